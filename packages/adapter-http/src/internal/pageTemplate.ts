/**
 * The HTML of the chat page. Every interpolated value is escaped: text and attributes with
 * `escapeHtml`, the client configuration with `jsonForScript` inside a
 * `<script type="application/json">` block (data, never executed).
 *
 * @internal
 */

const htmlEscapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;"
}

/** Escapes text for an HTML text node or a quoted attribute value. @internal */
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => htmlEscapes[c]!)

/**
 * JSON safe inside a `<script>` element: `<`, `>`, `&` and the JavaScript line separators are
 * written as `\u` escapes, so no `</script>` or `<!--` can appear.
 *
 * @internal
 */
export const jsonForScript = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")

/** @internal */
export interface PageModel {
  readonly title: string
  readonly lang: string
  readonly assetsPath: string
  readonly placeholder: string
  readonly labels: Readonly<Record<string, string>>
  readonly config: unknown
}

/** @internal */
export const render = (model: PageModel): string => {
  const e = escapeHtml
  const asset = (name: string) => e(`${model.assetsPath}/${name}`)
  const label = (name: string) => e(model.labels[name] ?? name)
  return `<!doctype html>
<html lang="${e(model.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${e(model.title)}</title>
<link rel="stylesheet" href="${asset("chat.css")}">
<script type="application/json" id="convo-config">${jsonForScript(model.config)}</script>
<script src="${asset("marked.umd.js")}" defer></script>
<script src="${asset("purify.min.js")}" defer></script>
<script src="${asset("chat.js")}" defer></script>
</head>
<body>
<div class="convo" id="convo-root">
  <header class="convo-header">
    <h1 class="convo-title">${e(model.title)}</h1>
    <div class="convo-meta">
      <span class="convo-total" id="convo-total" title="${label("totalTokens")}"></span>
      <span class="convo-status" id="convo-status" data-state="connecting">${label("connecting")}</span>
    </div>
  </header>
  <main class="convo-log" id="convo-log">
    <div class="convo-older-wrap"><button type="button" class="convo-older" id="convo-older" hidden>${label("loadOlder")}</button></div>
    <ol class="convo-messages" id="convo-messages" aria-live="polite"></ol>
  </main>
  <div class="convo-notice" id="convo-notice" role="alert" hidden></div>
  <form class="convo-composer" id="convo-form" autocomplete="off">
    <div class="convo-attachments" id="convo-attachments"></div>
    <div class="convo-row">
      <label class="convo-attach" title="${label("attach")}">
        <input type="file" id="convo-file" accept="image/png,image/jpeg,image/gif,image/webp" multiple>
        <span aria-hidden="true">+</span><span class="convo-sr">${label("attach")}</span>
      </label>
      <textarea id="convo-input" rows="1" placeholder="${e(model.placeholder)}" aria-label="${label("message")}"></textarea>
      <button type="submit" class="convo-send" id="convo-send">${label("send")}</button>
      <button type="button" class="convo-stop" id="convo-stop" hidden>${label("stop")}</button>
    </div>
  </form>
  <noscript><p class="convo-noscript">${label("noscript")}</p></noscript>
</div>
</body>
</html>
`
}
