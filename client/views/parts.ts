import { h } from '../dom.js'

/** "Ongoing" / "Resolved" with a shape as well as a colour. */
export function statusBadge(status: string | null): HTMLElement {
  const ongoing = status !== 'resolved'
  return h('span', { class: `badge ${ongoing ? 'badge-ongoing' : 'badge-resolved'}`, 'data-status': status ?? 'ongoing' }, ongoing ? '● Ongoing' : '✓ Resolved')
}

/** "Down" / "Up" for a tenant, with a glyph so state never rests on colour alone. */
export function stateBadge(state: 'down' | 'up'): HTMLElement {
  return h('span', { class: `badge ${state === 'down' ? 'badge-down' : 'badge-up'}` }, state === 'down' ? '▼ Down' : '▲ Up')
}

/** Loading, empty and error states: say what is happening and what to do. */
export function stateMessage(kind: 'loading' | 'empty' | 'error', text: string, action?: { label: string; onClick(): void }): HTMLElement {
  return h(
    'div',
    { class: `state state-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    kind === 'loading' ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null,
    h('span', {}, text),
    action ? h('button', { type: 'button', onclick: () => action.onClick() }, action.label) : null,
  )
}

export const STAGE_LABEL: Record<string, string> = {
  not_started: 'Not started',
  in_progress: 'In progress',
  completed: 'Completed, awaiting access',
}
