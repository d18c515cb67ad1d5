/**
 * Tables as django-pyhub-ai stored them: pandas' `DataFrame` and `Series`, written with
 * `to_dict()` (`{column: {index: value}}` and `{index: value}`). The data-analyst agent returns
 * them as tool observations, so they appear in stored histories.
 *
 * Index labels are text, as JSON makes them (pandas' integer labels come back as "0", "1", ...),
 * and keep their stored order: a sorted or filtered frame's index ("2", "0", "10") is not
 * reordered the way a JavaScript object would reorder it. That is why the data is held in `Map`s.
 *
 * @since 0.1.0
 */

/**
 * A pandas `Series`: values by index label, in index order.
 *
 * @example
 * import { Series } from "@convo/core/Table"
 *
 * const prices = Series.fromRecord({ latte: 4.5, mocha: 5 })
 * prices.get("latte") // 4.5
 *
 * @since 0.1.0
 * @category models
 */
export class Series {
  /** Values by index label, in index order. */
  readonly data: ReadonlyMap<string, unknown>

  constructor(entries: Iterable<readonly [label: string, value: unknown]>) {
    this.data = new Map(entries)
  }

  /**
   * A series from an object (its key order: JavaScript lists integer-like keys first).
   *
   * @since 0.1.0
   */
  static fromRecord(record: Readonly<Record<string, unknown>>): Series {
    return new Series(Object.entries(record))
  }

  /**
   * A series over a default index "0", "1", ... as pandas gives a list.
   *
   * @since 0.1.0
   */
  static fromArray(values: ReadonlyArray<unknown>): Series {
    return new Series(values.map((v, i) => [String(i), v] as const))
  }

  /** @since 0.1.0 */
  get index(): ReadonlyArray<string> {
    return Array.from(this.data.keys())
  }

  /** @since 0.1.0 */
  get values(): ReadonlyArray<unknown> {
    return Array.from(this.data.values())
  }

  /** @since 0.1.0 */
  get size(): number {
    return this.data.size
  }

  /**
   * The value at an index label, `undefined` when there is none.
   *
   * @since 0.1.0
   */
  get(label: string): unknown {
    return this.data.get(label)
  }
}

/**
 * A pandas `DataFrame`: columns by name, each a `Series` over the frame's index.
 *
 * @example
 * import { DataFrame } from "@convo/core/Table"
 *
 * const menu = DataFrame.fromColumns({ item: ["latte", "mocha"], price: [4.5, 5] })
 * menu.get("price", "1") // 5
 *
 * @since 0.1.0
 * @category models
 */
export class DataFrame {
  /** Columns by name, in column order. */
  readonly data: ReadonlyMap<string, Series>

  constructor(columns: Iterable<readonly [name: string, column: Series]>) {
    this.data = new Map(columns)
  }

  /**
   * A frame from pandas' `to_dict()` shape, `{column: {index: value}}`.
   *
   * @since 0.1.0
   */
  static fromRecord(record: Readonly<Record<string, Readonly<Record<string, unknown>>>>): DataFrame {
    return new DataFrame(Object.entries(record).map(([name, column]) => [name, Series.fromRecord(column)] as const))
  }

  /**
   * A frame from equally long column arrays, over a default index "0", "1", ...
   *
   * @since 0.1.0
   */
  static fromColumns(columns: Readonly<Record<string, ReadonlyArray<unknown>>>): DataFrame {
    return new DataFrame(Object.entries(columns).map(([name, values]) => [name, Series.fromArray(values)] as const))
  }

  /** @since 0.1.0 */
  get columns(): ReadonlyArray<string> {
    return Array.from(this.data.keys())
  }

  /**
   * Every index label of the frame, in first-seen order.
   *
   * @since 0.1.0
   */
  get index(): ReadonlyArray<string> {
    const labels = new Set<string>()
    for (const column of this.data.values()) for (const label of column.data.keys()) labels.add(label)
    return Array.from(labels)
  }

  /**
   * A column by name.
   *
   * @since 0.1.0
   */
  column(name: string): Series | undefined {
    return this.data.get(name)
  }

  /**
   * The value of a cell, `undefined` when there is none.
   *
   * @since 0.1.0
   */
  get(column: string, label: string): unknown {
    return this.data.get(column)?.get(label)
  }
}
