/*
 * convo chat page client. Plain JavaScript, no framework, no build step.
 *
 * Speaks convo's wire protocol (JSON text frames) over a WebSocket: renders the `history` page,
 * streams `message_delta` text into the message with that id, shows token usage per turn (and a line
 * where the model's context window starts, from `usage.context`), stops a
 * turn, attaches images, loads older history, and reconnects with exponential backoff. Messages
 * are kept by id, so a resent history replaces what is shown and nothing is duplicated.
 *
 * Safety: human text and tool output are set as text (never parsed as HTML); AI text is markdown,
 * rendered with `marked` and always passed through `DOMPurify.sanitize` before it touches the DOM.
 * The page's CSP allows no inline script, and the configuration comes from a JSON data block.
 */
;(function () {
  "use strict"

  var config = JSON.parse(document.getElementById("convo-config").textContent || "{}")
  var labels = config.labels || {}
  var pageSize = config.historyPageSize || 50

  var root = document.getElementById("convo-root")
  var log = document.getElementById("convo-log")
  var list = document.getElementById("convo-messages")
  var olderButton = document.getElementById("convo-older")
  var statusEl = document.getElementById("convo-status")
  var totalEl = document.getElementById("convo-total")
  var form = document.getElementById("convo-form")
  var input = document.getElementById("convo-input")
  var fileInput = document.getElementById("convo-file")
  var attachmentsEl = document.getElementById("convo-attachments")
  var sendButton = document.getElementById("convo-send")
  var notice = document.getElementById("convo-notice")
  var stopButton = document.getElementById("convo-stop")

  var IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"]
  var MAX_IMAGE_BYTES = 5 * 1024 * 1024
  var FINAL_CLOSE_CODES = [1008, 4401, 4403, 4404]

  // ---------------------------------------------------------------------------
  // state
  // ---------------------------------------------------------------------------

  /** Shown messages by id: { id, role, text, seq, el, body, foot, turnId }. */
  var messages = new Map()
  /** Messages sent but not yet seen back in a `message_start`, by client id. */
  var outbox = new Map()
  /** Turns running now. */
  var runningTurns = new Set()
  /** The last AI message of each turn, for its token counts. */
  var lastAiOfTurn = new Map()
  var totals = { input: 0, output: 0 }
  var oldestSeq = null
  /** The seq of the oldest message the model was last sent, when older ones were left out. */
  var windowStartSeq = null
  var hasMore = false
  var loadingOlder = false
  var attachments = []

  var socket = null
  var attempt = 0
  var reconnectTimer = null
  var closedForGood = false

  // ---------------------------------------------------------------------------
  // helpers
  // ---------------------------------------------------------------------------

  var label = function (name, fallback) {
    return typeof labels[name] === "string" ? labels[name] : fallback
  }

  var newClientId = function () {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID()
    var bytes = new Uint8Array(16)
    window.crypto.getRandomValues(bytes)
    bytes[6] = (bytes[6] & 0x0f) | 0x40
    bytes[8] = (bytes[8] & 0x3f) | 0x80
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1)
    })
    return [hex.slice(0, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10), hex.slice(10)]
      .map(function (part) {
        return part.join("")
      })
      .join("-")
  }

  var socketUrl = function () {
    var url = new URL(config.wsUrl || "", window.location.href)
    if (url.protocol === "http:") url.protocol = "ws:"
    if (url.protocol === "https:") url.protocol = "wss:"
    return url.toString()
  }

  var el = function (tag, className, text) {
    var node = document.createElement(tag)
    if (className) node.className = className
    if (text !== undefined && text !== null) node.textContent = String(text)
    return node
  }

  var nearBottom = function () {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80
  }

  var scrollToBottom = function () {
    log.scrollTop = log.scrollHeight
  }

  var formatTokens = function (usage) {
    return label("tokens", "{in} in · {out} out tokens")
      .replace("{in}", String(usage.inputTokens))
      .replace("{out}", String(usage.outputTokens))
  }

  var escapeHtml = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
    })
  }

  // Raw HTML inside the model's markdown is shown as text, not markup.
  var markdown =
    window.marked && typeof window.marked.Marked === "function"
      ? new window.marked.Marked({
          gfm: true,
          breaks: true,
          renderer: {
            html: function (token) {
              var text = escapeHtml(token.text)
              return token.block ? "<p>" + text.trim() + "</p>\n" : text
            }
          }
        })
      : null

  // Markdown to safe HTML: always sanitised; plain text if the libraries did not load.
  var renderMarkdown = function (target, text) {
    if (markdown !== null && window.DOMPurify && typeof window.DOMPurify.sanitize === "function") {
      target.innerHTML = window.DOMPurify.sanitize(markdown.parse(text, { async: false }))
    } else {
      target.textContent = text
    }
  }

  if (window.DOMPurify && typeof window.DOMPurify.addHook === "function") {
    window.DOMPurify.addHook("afterSanitizeAttributes", function (node) {
      if (node.tagName === "A" && node.getAttribute("href")) {
        node.setAttribute("target", "_blank")
        node.setAttribute("rel", "noopener noreferrer")
      }
    })
  }

  // ---------------------------------------------------------------------------
  // rendering
  // ---------------------------------------------------------------------------

  var roleClass = function (role) {
    if (role === "human" || role === "ai" || role === "tool" || role === "error") return role
    return "other"
  }

  var renderBody = function (message) {
    var body = message.body
    if (message.role === "ai") {
      renderMarkdown(body, message.text)
      body.classList.toggle("convo-typing", message.text.length === 0 && message.streaming === true)
    } else {
      body.textContent = message.text
    }
  }

  var pendingRender = new Set()
  var renderScheduled = false
  var scheduleRender = function (message) {
    pendingRender.add(message)
    if (renderScheduled) return
    renderScheduled = true
    window.requestAnimationFrame(function () {
      var stick = nearBottom()
      renderScheduled = false
      pendingRender.forEach(renderBody)
      pendingRender.clear()
      if (stick) scrollToBottom()
    })
  }

  var setFoot = function (message) {
    var foot = message.foot
    foot.textContent = ""
    if (message.usage) foot.appendChild(el("span", "convo-usage", formatTokens(message.usage)))
    if (message.status === "aborted") foot.appendChild(el("span", "convo-badge", label("stopped", "stopped")))
    if (message.status === "error") foot.appendChild(el("span", "convo-badge", label("failed", "failed")))
    if (message.status === "interrupted") {
      foot.appendChild(el("span", "convo-badge", label("interrupted", "interrupted")))
    }
  }

  var setImages = function (message, images) {
    if (!images || images.length === 0) return
    var box = el("div", "convo-images")
    images.forEach(function (src) {
      if (typeof src !== "string" || src.indexOf("data:image/") !== 0) return
      var img = document.createElement("img")
      img.alt = ""
      img.src = src
      box.appendChild(img)
    })
    message.bubble.insertBefore(box, message.body)
  }

  var createMessage = function (data) {
    var role = roleClass(data.role)
    var item = el("li", "convo-msg convo-msg--" + role)
    item.dataset.id = data.id
    item.dataset.role = data.role
    var bubble = el("div", "convo-bubble")
    var body = el("div", role === "ai" ? "convo-markdown" : "convo-text")
    bubble.appendChild(body)
    var foot = el("div", "convo-foot")
    item.appendChild(bubble)
    item.appendChild(foot)
    var message = {
      id: data.id,
      role: data.role,
      text: data.text || "",
      seq: typeof data.seq === "number" ? data.seq : null,
      status: data.status || null,
      usage: data.usage || null,
      turnId: data.turnId || null,
      streaming: data.streaming === true,
      el: item,
      bubble: bubble,
      body: body,
      foot: foot
    }
    setImages(message, data.images)
    renderBody(message)
    setFoot(message)
    return message
  }

  // A stored tool call or tool result, shown as a collapsed box of plain text.
  var createToolBox = function (id, title, detail) {
    var message = createMessage({ id: id, role: "tool", text: "" })
    message.body.textContent = ""
    var details = el("details", "convo-tool")
    details.appendChild(el("summary", null, title))
    details.appendChild(el("pre", null, detail))
    message.body.appendChild(details)
    return message
  }

  var updateEmptyState = function () {
    var empty = list.querySelector(".convo-empty")
    if (messages.size === 0 && outbox.size === 0) {
      if (!empty) list.appendChild(el("li", "convo-empty", label("empty", "No messages yet.")))
    } else if (empty) {
      empty.remove()
    }
  }

  var append = function (message) {
    messages.set(message.id, message)
    list.appendChild(message.el)
    updateEmptyState()
  }

  var fromHistory = function (data) {
    var message
    if (data.role === "tool") {
      message = createToolBox(data.id, label("toolResult", "Tool result"), data.text)
      message.seq = data.seq
    } else {
      message = createMessage(data)
    }
    if (data.role === "ai" && data.toolCalls && data.toolCalls.length > 0 && data.text.length === 0) {
      message.body.textContent = ""
      data.toolCalls.forEach(function (call) {
        var details = el("details", "convo-tool")
        details.appendChild(el("summary", null, label("toolCall", "Tool call") + ": " + call.name))
        details.appendChild(el("pre", null, JSON.stringify(call.args, null, 2)))
        message.body.appendChild(details)
      })
    }
    return message
  }

  var trackOldest = function (page) {
    page.forEach(function (data) {
      if (typeof data.seq === "number" && (oldestSeq === null || data.seq < oldestSeq)) oldestSeq = data.seq
    })
  }

  var showOlderButton = function () {
    olderButton.hidden = !hasMore
    olderButton.disabled = loadingOlder
  }

  var onHistory = function (event) {
    if (event.initial) {
      // a (re)connect: the server's page replaces what is shown
      messages.forEach(function (message) {
        message.el.remove()
      })
      messages.clear()
      lastAiOfTurn.clear()
      oldestSeq = null
      event.messages.forEach(function (data) {
        append(fromHistory(data))
      })
      outbox.forEach(function (pending) {
        list.appendChild(pending.message.el)
      })
      hasMore = event.hasMore
      trackOldest(event.messages)
      loadingOlder = false
      showOlderButton()
      updateEmptyState()
      placeWindowMarker()
      scrollToBottom()
      return
    }
    // an older page: prepend what is not shown yet, keeping the scroll position
    var before = log.scrollHeight
    var anchor = list.firstChild
    event.messages.forEach(function (data) {
      if (messages.has(data.id)) return
      var message = fromHistory(data)
      messages.set(message.id, message)
      list.insertBefore(message.el, anchor)
    })
    hasMore = event.hasMore
    trackOldest(event.messages)
    loadingOlder = false
    showOlderButton()
    updateEmptyState()
    placeWindowMarker()
    log.scrollTop += log.scrollHeight - before
  }

  var onMessageStart = function (event) {
    var existing = messages.get(event.id)
    if (event.clientId && outbox.has(event.clientId)) {
      // our own message came back: it becomes the server's message
      var pending = outbox.get(event.clientId)
      outbox.delete(event.clientId)
      pending.message.el.remove()
    }
    if (existing) {
      existing.turnId = event.turnId
      existing.streaming = event.role === "ai"
      return
    }
    var message = createMessage({
      id: event.id,
      role: event.role,
      text: event.text,
      images: event.images,
      turnId: event.turnId,
      streaming: event.role === "ai"
    })
    var stick = nearBottom()
    append(message)
    if (event.role === "ai") lastAiOfTurn.set(event.turnId, message)
    if (stick || event.role === "human") scrollToBottom()
  }

  var onDelta = function (event) {
    var message = messages.get(event.id)
    if (!message) {
      message = createMessage({ id: event.id, role: "ai", text: "", streaming: true })
      append(message)
    }
    message.text += event.text
    scheduleRender(message)
  }

  var onMessageEnd = function (event) {
    var message = messages.get(event.id)
    if (!message) return
    message.streaming = false
    message.status = event.status
    if (typeof event.seq === "number") message.seq = event.seq
    renderBody(message)
    setFoot(message)
  }

  // Where the model's context window starts: a line before the oldest message it was sent.
  var placeWindowMarker = function () {
    var marker = list.querySelector(".convo-window-start")
    var first = null
    if (windowStartSeq !== null) {
      messages.forEach(function (message) {
        if (first === null && message.seq === windowStartSeq && message.el.isConnected) first = message
      })
    }
    if (first === null) {
      if (marker) marker.remove()
      return
    }
    if (!marker) {
      marker = el("li", "convo-window-start", label("windowStart", "Earlier messages are not sent to the model"))
      marker.setAttribute("role", "separator")
    }
    if (marker.nextSibling !== first.el) list.insertBefore(marker, first.el)
  }

  var onUsage = function (event) {
    if (event.context) {
      windowStartSeq = event.context.cut && typeof event.context.firstSeq === "number" ? event.context.firstSeq : null
      placeWindowMarker()
    }
    var message = messages.get(event.messageId)
    if (!message) return
    message.usage = event.usage
    setFoot(message)
  }

  var onToolCall = function (event) {
    var box = createToolBox(
      "call-" + event.call.id + "-" + event.turnId,
      label("toolCall", "Tool call") + ": " + event.call.name,
      JSON.stringify(event.call.args, null, 2)
    )
    if (!messages.has(box.id)) append(box)
  }

  var onToolResult = function (event) {
    var box = createToolBox(
      "result-" + event.toolCallId + "-" + event.turnId,
      label("toolResult", "Tool result") + ": " + event.name,
      event.content
    )
    if (event.isError) box.status = "error"
    setFoot(box)
    if (!messages.has(box.id)) append(box)
  }

  var updateTotals = function () {
    totalEl.textContent =
      totals.input + totals.output > 0 ? formatTokens({ inputTokens: totals.input, outputTokens: totals.output }) : ""
  }

  var updateRunning = function () {
    stopButton.hidden = runningTurns.size === 0
  }

  var onTurnEnd = function (event) {
    if (statusEl.dataset.state === "saving") setStatus("open", label("connected", "Connected"))
    runningTurns.delete(event.turnId)
    updateRunning()
    totals.input += event.usage.inputTokens
    totals.output += event.usage.outputTokens
    updateTotals()
    var last = lastAiOfTurn.get(event.turnId)
    if (last) {
      // the turn's tokens (all its model calls) under its last AI message
      last.usage = event.usage
      setFoot(last)
    }
  }

  // The latest error, above the composer; cleared by the next message or a click.
  var showError = function (event) {
    notice.textContent = event.message
    notice.dataset.code = event.code
    notice.hidden = false
  }

  var clearError = function () {
    notice.hidden = true
    notice.textContent = ""
  }

  notice.addEventListener("click", clearError)

  var handle = function (event) {
    switch (event.type) {
      case "history":
        return onHistory(event)
      case "received":
        // the server stored our message: it is safe, whatever happens next
        if (event.clientId && outbox.has(event.clientId)) {
          var sent = outbox.get(event.clientId)
          sent.message.el.dataset.received = "true"
          sent.message.el.classList.add("convo-received")
        }
        return undefined
      case "saving":
        return setStatus("saving", event.message)
      case "turn_start":
        runningTurns.add(event.turnId)
        return updateRunning()
      case "message_start":
        return onMessageStart(event)
      case "message_delta":
        return onDelta(event)
      case "message_end":
        return onMessageEnd(event)
      case "usage":
        return onUsage(event)
      case "tool_call":
        return onToolCall(event)
      case "tool_result":
        return onToolResult(event)
      case "turn_end":
        return onTurnEnd(event)
      case "error":
        if (!event.turnId && loadingOlder) {
          loadingOlder = false
          showOlderButton()
        }
        return showError(event)
      default:
        return undefined
    }
  }

  // ---------------------------------------------------------------------------
  // the socket
  // ---------------------------------------------------------------------------

  var setStatus = function (state, text) {
    statusEl.dataset.state = state
    statusEl.textContent = text
    root.dataset.connection = state
  }

  var sendFrame = function (frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false
    socket.send(JSON.stringify(frame))
    return true
  }

  var scheduleReconnect = function () {
    if (closedForGood || reconnectTimer !== null) return
    var delay = Math.min(15000, 500 * Math.pow(2, attempt))
    delay = Math.round(delay * (0.75 + Math.random() * 0.5))
    attempt += 1
    setStatus("connecting", label("reconnecting", "Reconnecting…"))
    reconnectTimer = window.setTimeout(function () {
      reconnectTimer = null
      connect()
    }, delay)
  }

  var connect = function () {
    setStatus("connecting", attempt === 0 ? label("connecting", "Connecting…") : label("reconnecting", "Reconnecting…"))
    var ws
    try {
      ws = new WebSocket(socketUrl())
    } catch (error) {
      setStatus("closed", label("disconnected", "Disconnected"))
      return
    }
    socket = ws
    ws.onopen = function () {
      attempt = 0
      runningTurns.clear()
      updateRunning()
      setStatus("open", label("connected", "Connected"))
      // messages that never reached the server go again, with the same client id
      outbox.forEach(function (pending) {
        sendFrame(pending.frame)
      })
    }
    ws.onmessage = function (message) {
      var event
      try {
        event = JSON.parse(message.data)
      } catch (error) {
        return
      }
      if (event && typeof event.type === "string") handle(event)
    }
    ws.onclose = function (close) {
      if (socket !== ws) return
      socket = null
      runningTurns.clear()
      updateRunning()
      if (FINAL_CLOSE_CODES.indexOf(close.code) >= 0) {
        closedForGood = true
        setStatus("closed", close.reason || label("disconnected", "Disconnected"))
        return
      }
      if (close.code === 1009) {
        // the server refused a frame as too large: resending it would fail again
        // drop it and give its text back to the input
        outbox.forEach(function (pending, clientId) {
          pending.message.el.remove()
          outbox.delete(clientId)
          if (input.value.trim().length === 0) input.value = pending.frame.text
        })
        updateSendButton()
        showError({ code: "too_large", message: label("tooLarge", "The message is too large to send.") })
      }
      setStatus("closed", label("disconnected", "Disconnected"))
      scheduleReconnect()
    }
  }

  // ---------------------------------------------------------------------------
  // the composer
  // ---------------------------------------------------------------------------

  var renderAttachments = function () {
    attachmentsEl.textContent = ""
    attachments.forEach(function (src, index) {
      var thumb = el("div", "convo-thumb")
      var img = document.createElement("img")
      img.alt = ""
      img.src = src
      var remove = el("button", null, "×")
      remove.type = "button"
      remove.title = label("removeImage", "Remove image")
      remove.addEventListener("click", function () {
        attachments.splice(index, 1)
        renderAttachments()
        updateSendButton()
      })
      thumb.appendChild(img)
      thumb.appendChild(remove)
      attachmentsEl.appendChild(thumb)
    })
  }

  var updateSendButton = function () {
    sendButton.disabled = input.value.trim().length === 0 && attachments.length === 0
  }

  var autosize = function () {
    input.style.height = "auto"
    input.style.height = Math.min(input.scrollHeight + 2, 200) + "px"
  }

  fileInput.addEventListener("change", function () {
    Array.prototype.forEach.call(fileInput.files || [], function (file) {
      if (IMAGE_TYPES.indexOf(file.type) < 0 || file.size > MAX_IMAGE_BYTES) {
        showError({ code: "invalid_image", message: label("imageRejected", "This image cannot be attached.") })
        return
      }
      var reader = new FileReader()
      reader.onload = function () {
        if (typeof reader.result === "string") {
          attachments.push(reader.result)
          renderAttachments()
          updateSendButton()
        }
      }
      reader.readAsDataURL(file)
    })
    fileInput.value = ""
  })

  var submit = function () {
    var text = input.value.trim()
    if (text.length === 0 && attachments.length === 0) return
    clearError()
    var clientId = newClientId()
    var frame = { type: "user_message", text: text, clientId: clientId }
    if (attachments.length > 0) frame.images = attachments.slice()
    // shown at once; replaced by the server's message when it comes back
    var message = createMessage({ id: "local-" + clientId, role: "human", text: text, images: frame.images })
    message.el.classList.add("convo-pending")
    outbox.set(clientId, { frame: frame, message: message })
    list.appendChild(message.el)
    updateEmptyState()
    scrollToBottom()
    sendFrame(frame)
    input.value = ""
    attachments = []
    renderAttachments()
    autosize()
    updateSendButton()
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault()
    submit()
  })

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault()
      submit()
    }
  })

  input.addEventListener("input", function () {
    autosize()
    updateSendButton()
  })

  stopButton.addEventListener("click", function () {
    sendFrame({ type: "stop" })
  })

  var loadOlder = function () {
    if (!hasMore || loadingOlder || oldestSeq === null) return
    if (sendFrame({ type: "load_history", before: oldestSeq, limit: pageSize })) {
      loadingOlder = true
      showOlderButton()
    }
  }

  olderButton.addEventListener("click", loadOlder)
  log.addEventListener("scroll", function () {
    if (log.scrollTop < 40) loadOlder()
  })

  updateSendButton()
  updateEmptyState()
  connect()
})()
