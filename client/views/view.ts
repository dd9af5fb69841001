/** A mounted screen: its root element, a soft refresh (theme/time zone changed) and teardown. */
export interface View {
  el: HTMLElement
  refresh(): void
  destroy(): void
}

/** An incident link's view (SPEC §8): that one incident, read-only, until the link expires. */
export interface SharedView {
  incidentId: string
  expiresAt: string
  /** From /whoami when the server sends them (the incident list is closed to the link). */
  title?: string
  status?: string
}

export interface AppContext {
  navigate(path: string): void
  tz(): 'utc' | 'local'
  /** Set when the token is an incident link: no list, no editing, no sharing. */
  shared(): SharedView | null
}
