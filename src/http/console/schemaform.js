// A form generated from a tool's inputSchema: one labelled control per property (text,
// number, checkbox or select for enums; JSON for objects and arrays), required ones marked,
// descriptions as hints. Anything the form cannot express can be sent as raw JSON instead.

import { field, h, nextId } from './dom.js';

export function schemaForm(schema) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const controls = [];
  const fields = Object.entries(properties).map(([name, prop]) => {
    const control = controlFor(name, prop || {}, required.has(name));
    controls.push(control);
    const label = [name, required.has(name) ? h('span.req', ' (required)') : null];
    return field(label, control.el, { hint: hintOf(prop || {}), field: name });
  });
  const raw = h('textarea.code', { rows: 6, spellcheck: 'false', id: nextId(), 'aria-label': 'Arguments as JSON' });
  const useRaw = h('input', { type: 'checkbox', id: nextId() });
  const rawBox = h('details.raw',
    h('summary', 'Arguments as JSON'),
    h('label.check', { for: useRaw.id }, useRaw, ' Send this JSON instead of the form'),
    raw);
  const sync = () => {
    if (useRaw.checked) return;
    try { raw.value = JSON.stringify(collect(), null, 2); } catch { /* shown at call time */ }
  };
  const collect = () => {
    const args = {};
    for (const control of controls) {
      const value = control.value();
      if (value !== undefined) args[control.name] = value;
    }
    return args;
  };
  const el = h('div.schema-form', { on: { input: sync, change: sync } },
    fields.length ? fields : h('p.muted', 'This tool takes no arguments.'),
    rawBox);
  sync();
  return {
    el,
    /** The arguments, or throws an Error naming the field whose text is not what it needs. */
    value() {
      if (useRaw.checked) {
        try {
          return JSON.parse(raw.value || '{}');
        } catch (err) {
          throw new Error(`the JSON arguments do not parse: ${err.message}`);
        }
      }
      return collect();
    },
  };
}

function hintOf(prop) {
  const parts = [];
  if (prop.description) parts.push(prop.description);
  const type = Array.isArray(prop.type) ? prop.type.join(' or ') : prop.type;
  if (type) parts.push(`(${type}${prop.format ? `, ${prop.format}` : ''})`);
  if (prop.default !== undefined) parts.push(`default ${JSON.stringify(prop.default)}`);
  return parts.join(' ');
}

function typeOf(prop) {
  const types = Array.isArray(prop.type) ? prop.type.filter((t) => t !== 'null') : [prop.type];
  return types[0] || (prop.enum ? 'enum' : 'json');
}

function controlFor(name, prop, isRequired) {
  const id = nextId();
  if (Array.isArray(prop.enum)) {
    const select = h('select', { id, name },
      isRequired ? null : h('option', { value: '' }, '(not set)'),
      prop.enum.map((v, i) => h('option', { value: String(i) }, JSON.stringify(v).replace(/^"|"$/g, ''))));
    if (prop.default !== undefined) {
      const index = prop.enum.findIndex((v) => v === prop.default);
      if (index >= 0) select.value = String(index);
    }
    return { name, el: select, value: () => (select.value === '' ? undefined : prop.enum[Number(select.value)]) };
  }
  const type = typeOf(prop);
  if (type === 'boolean') {
    const select = h('select', { id, name },
      h('option', { value: '' }, '(not set)'), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
    if (prop.default !== undefined) select.value = String(prop.default);
    return { name, el: select, value: () => (select.value === '' ? undefined : select.value === 'true') };
  }
  if (type === 'number' || type === 'integer') {
    const input = h('input', { id, name, type: 'number', step: type === 'integer' ? 1 : 'any',
      min: prop.minimum, max: prop.maximum, placeholder: prop.default !== undefined ? String(prop.default) : '' });
    return {
      name,
      el: input,
      value: () => {
        if (input.value.trim() === '') return undefined;
        const n = Number(input.value);
        if (!Number.isFinite(n)) throw new Error(`${name} must be a number`);
        return n;
      },
    };
  }
  if (type === 'string') {
    const input = h('input', { id, name, type: 'text', autocomplete: 'off',
      placeholder: prop.default !== undefined ? String(prop.default) : '' });
    return { name, el: input, value: () => (input.value === '' ? undefined : input.value) };
  }
  const area = h('textarea.code', { id, name, rows: 3, spellcheck: 'false',
    placeholder: type === 'array' ? '[ ]' : '{ }' });
  return {
    name,
    el: area,
    value: () => {
      if (area.value.trim() === '') return undefined;
      try {
        return JSON.parse(area.value);
      } catch (err) {
        throw new Error(`${name} is not valid JSON: ${err.message}`);
      }
    },
  };
}
