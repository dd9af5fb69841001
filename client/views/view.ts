/** A mounted screen: its root element, a soft refresh (theme/time zone changed) and teardown. */
export interface View {
  el: HTMLElement
  refresh(): void
  destroy(): void
}

export interface AppContext {
  navigate(path: string): void
  tz(): 'utc' | 'local'
}
