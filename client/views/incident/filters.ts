import { h } from '../../dom.js'
import type { AttributeIndex } from './attributes.js'
import type { IncidentState } from './state.js'
import { STALE_AFTER } from './url-state.js'

/**
 * The segment row of the header: filter chips and the form adding one (attribute = value),
 * "Count broadcasts as contact" and "Stale after". A change writes url and calls onChange;
 * tools (the export buttons) go at the row's end.
 */
export class SegmentFilters {
  readonly el: HTMLElement
  private readonly chips = h('div', { class: 'chips', 'aria-label': 'Segment filters' })
  private readonly attrName = h('input', { list: 'attr-names', placeholder: 'attribute (tier)', 'aria-label': 'Filter attribute name', size: 12 })
  private readonly attrValue = h('input', { list: 'attr-values', placeholder: 'value (enterprise)', 'aria-label': 'Filter attribute value', size: 14 })
  private readonly attrNames = h('datalist', { id: 'attr-names' })
  private readonly attrValues = h('datalist', { id: 'attr-values' })

  constructor(
    private readonly state: IncidentState,
    private readonly attributes: AttributeIndex,
    private readonly onChange: () => void,
    tools: HTMLElement[],
  ) {
    const { url } = state
    const form = h('form', { class: 'filter-form' }, this.attrName, this.attrValue, this.attrNames, this.attrValues, h('button', { type: 'submit' }, 'Add filter'))
    const broadcastBox = h('input', { type: 'checkbox', id: 'include-broadcast' })
    broadcastBox.checked = url.includeBroadcast
    const staleSelect = h(
      'select',
      { 'aria-label': 'Stale after: a customer still down with no update for longer counts as stale', 'data-testid': 'stale-after' },
      ...STALE_AFTER.map(([value, label]) => h('option', { value }, label)),
    )
    staleSelect.value = url.staleAfter
    this.el = h(
      'div',
      { class: 'inc-head-row filter-row' },
      h('span', { class: 'small muted' }, 'Segment:'),
      this.chips,
      form,
      h('label', { class: 'check small' }, broadcastBox, ' Count broadcasts as contact'),
      h('label', { class: 'small' }, 'Stale after ', staleSelect),
      h('span', { class: 'spacer' }),
      ...tools,
    )

    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const name = this.attrName.value.trim()
      const value = this.attrValue.value.trim()
      if (!name || !value) {
        ;(name ? this.attrValue : this.attrName).focus()
        return
      }
      if (!url.attrs.some(([n, v]) => n === name && v === value)) url.attrs.push([name, value])
      this.attrName.value = ''
      this.attrValue.value = ''
      onChange()
    })
    this.attrName.addEventListener('input', () => this.fillValues())
    broadcastBox.addEventListener('change', () => {
      url.includeBroadcast = broadcastBox.checked
      onChange()
    })
    staleSelect.addEventListener('change', () => {
      url.staleAfter = staleSelect.value
      onChange()
    })
  }

  /** One chip per filter, each with its remove button. */
  renderChips() {
    const { attrs } = this.state.url
    this.chips.replaceChildren(
      ...(attrs.length === 0
        ? [h('span', { class: 'small muted' }, 'all customers')]
        : attrs.map(([n, v], i) =>
            h(
              'span',
              { class: 'chip' },
              `${n} = ${v}`,
              h(
                'button',
                {
                  type: 'button',
                  'aria-label': `Remove filter ${n} = ${v}`,
                  onclick: () => {
                    attrs.splice(i, 1)
                    this.onChange()
                  },
                },
                '✕',
              ),
            ),
          )),
    )
  }

  /** New attribute names or values were seen: refresh the suggestions. */
  attributesChanged() {
    this.attrNames.replaceChildren(...this.attributes.names().map((n) => h('option', { value: n })))
    this.fillValues()
  }

  private fillValues() {
    this.attrValues.replaceChildren(...this.attributes.values(this.attrName.value.trim()).map((v) => h('option', { value: v })))
  }
}
