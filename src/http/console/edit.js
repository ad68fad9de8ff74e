// Create and edit forms for adapters and tools. The body sent is the resource as the API knows
// it (fields this form does not show are kept as they were), and the API's answer decides: its
// field errors (problem+json errors[].field) are shown next to the fields they name.

import { api, collection } from './api.js';
import { confirmDialog, field, fill, h, nextId, notice, problemBox } from './dom.js';

/** Fields the server sets; never sent back. */
const SERVER_SET = ['id', 'createdBy', 'createdAt', 'lastUpdatedAt', 'source'];

const EMPTY_SCHEMA = { type: 'object', properties: {}, required: [] };

export function render(main, { kind, name }) {
  const editing = Boolean(name);
  const noun = kind === 'tool' ? 'tool' : 'adapter';
  const title = editing ? `Edit ${noun} ${name}` : `New ${noun}`;
  fill(main, h('h1', title), h('p.muted', 'Loading…'));
  let stopped = false;
  const load = editing
    ? api(`/${collection(kind)}/${encodeURIComponent(name)}`)
    : Promise.resolve(null);
  load.then((resource) => {
    if (!stopped) draw(main, kind, title, resource);
  }).catch((err) => {
    if (!stopped) fill(main, h('h1', title), problemBox(err));
  });
  return () => { stopped = true; };
}

function draw(main, kind, title, resource) {
  const editing = Boolean(resource);
  const r = resource || {};
  const isTool = kind === 'tool';
  const summary = h('div', { tabindex: '-1' });
  const input = (attrs) => h('input', { type: 'text', autocomplete: 'off', ...attrs });

  const nameInput = input({ name: 'name', value: r.name || '', required: true, disabled: editing,
    maxlength: 63, spellcheck: 'false' });
  const useUrl = Boolean(r.url);
  const sourceName = nextId('source');
  const imageRadio = h('input', { type: 'radio', name: sourceName, value: 'image', checked: !useUrl, id: nextId() });
  const urlRadio = h('input', { type: 'radio', name: sourceName, value: 'url', checked: useUrl, id: nextId() });
  const imageName = input({ name: 'imageName', value: r.imageName || '', spellcheck: 'false' });
  const imageVersion = input({ name: 'imageVersion', value: r.imageVersion || '', placeholder: 'latest', spellcheck: 'false' });
  const url = input({ type: 'url', name: 'url', value: r.url || '', placeholder: 'https://server.example.com/mcp', spellcheck: 'false' });
  const replicas = h('input', { type: 'number', name: 'replicaCount', min: 0, max: 64, value: r.replicaCount ?? 1 });
  const port = h('input', { type: 'number', name: 'port', min: 1, max: 65535, value: r.port ?? 8000 });
  const path = input({ name: 'path', value: r.path || '/mcp', spellcheck: 'false' });
  const description = h('textarea', { name: 'description', rows: 2, value: r.description || '' });
  const roles = input({ name: 'requiredRoles', value: (r.requiredRoles || []).join(', '), spellcheck: 'false' });
  const identity = h('input', { type: 'checkbox', name: 'useWorkloadIdentity', checked: r.useWorkloadIdentity, id: nextId() });
  const env = envEditor(r.environmentVariables || {});

  const imageGroup = h('div.grid',
    field('Image name', imageName, { field: 'imageName', hint: 'A repository without tag, e.g. mcp-example or team/server' }),
    field('Image version', imageVersion, { field: 'imageVersion', hint: 'Tag or sha256 digest (default latest)' }),
    field('Replicas', replicas, { field: 'replicaCount', hint: '0 to 64' }),
    isTool ? null : field('Container port', port, { field: 'port' }),
    isTool ? null : field('MCP path', path, { field: 'path' }));
  const urlGroup = h('div.grid', field('URL', url, { field: 'url', wide: true,
    hint: isTool ? 'The tool server\'s endpoint (POSTed with the arguments)' : 'A remote MCP server the gateway proxies to' }));
  const showSource = () => {
    imageGroup.hidden = urlRadio.checked;
    urlGroup.hidden = !urlRadio.checked;
  };
  imageRadio.addEventListener('change', showSource);
  urlRadio.addEventListener('change', showSource);
  showSource();

  const td = r.toolDefinition || {};
  const tool = td.tool || {};
  const toolDescription = h('textarea', { name: 'toolDescription', rows: 2, value: tool.description || '' });
  const inputSchema = jsonEditor(tool.inputSchema || EMPTY_SCHEMA, 'inputSchema');
  const outputSchema = jsonEditor(tool.outputSchema, 'outputSchema', true);
  const toolPort = h('input', { type: 'number', name: 'toolPort', min: 1, max: 65535, value: td.port ?? 8000 });
  const toolPath = input({ name: 'toolPath', value: td.path || '/score', spellcheck: 'false' });
  const toolGroup = isTool ? h('fieldset',
    h('legend', 'Tool definition'),
    field('Tool description', toolDescription, { field: 'toolDefinition.tool.description', wide: true,
      hint: 'What the tool does, as MCP clients show it' }),
    field('inputSchema (JSON)', inputSchema.area, { field: 'toolDefinition.tool.inputSchema', wide: true,
      hint: 'A JSON Schema of type object for the arguments' }),
    inputSchema.tools,
    field('outputSchema (JSON, optional)', outputSchema.area, { field: 'toolDefinition.tool.outputSchema', wide: true }),
    h('div.grid',
      field('Tool port', toolPort, { field: 'toolDefinition.port', hint: 'Port of the tool server in the container' }),
      field('Tool path', toolPath, { field: 'toolDefinition.path' })),
    h('div', { dataset: { field: 'toolDefinition' } }, h('p.field-error', { hidden: true }))) : null;

  const busy = h('span.muted', { 'aria-live': 'polite' });
  const form = h('form.card', { novalidate: true, on: { submit: (event) => { event.preventDefault(); save(); } } },
    summary,
    field('Name', nameInput, { field: 'name', hint: editing ? 'A resource cannot be renamed' : 'Lowercase letters, digits and dashes; at most 63' }),
    h('fieldset.source',
      h('legend', 'Runs from'),
      h('div.radios',
        h('label', { for: imageRadio.id }, imageRadio, ' a container image the gateway deploys'),
        h('label', { for: urlRadio.id }, urlRadio, ' a remote URL')),
      imageGroup, urlGroup),
    field('Description', description, { field: 'description', wide: true }),
    env.group,
    h('div.grid.wide-cols',
      field('Required roles', roles, { field: 'requiredRoles', hint: 'Comma-separated: who besides the creator and admins may read and use it' }),
      h('div.field.check', { dataset: { field: 'useWorkloadIdentity' } },
        h('label', { for: identity.id }, identity, ' Use workload identity (Kubernetes; admins only)'),
        h('p.field-error', { hidden: true }))),
    toolGroup,
    h('div.actions',
      h('button', { type: 'submit' }, editing ? 'Save' : `Create ${isTool ? 'tool' : 'adapter'}`),
      h('a.button.secondary', { href: editing ? `#/${collection(kind)}/${encodeURIComponent(r.name)}` : '#/' }, 'Cancel'),
      editing ? h('button.danger', { type: 'button', on: { click: remove } }, 'Delete') : null,
      busy));

  fill(main,
    h('div.page-head', h('h1', title),
      editing ? null : h('a.small', { href: `#/new/${isTool ? 'adapter' : 'tool'}` },
        `Create ${isTool ? 'an adapter' : 'a tool'} instead`)),
    r.source === 'config'
      ? h('div.alert.warn', 'Declared in config.toml: the API refuses changes here; edit the file instead.')
      : null,
    form);

  function body() {
    const out = { ...(resource || {}) };
    for (const key of SERVER_SET) delete out[key];
    const set = (key, value) => {
      if (value === '' || value === undefined || value === null) delete out[key];
      else out[key] = value;
    };
    set('name', nameInput.value.trim());
    if (urlRadio.checked) {
      set('url', url.value.trim());
      for (const key of ['imageName', 'imageVersion', 'replicaCount', 'port', 'path']) delete out[key];
    } else {
      delete out.url;
      set('imageName', imageName.value.trim());
      set('imageVersion', imageVersion.value.trim());
      set('replicaCount', numberOrText(replicas.value));
      if (!isTool) {
        set('port', numberOrText(port.value));
        set('path', path.value.trim());
      }
    }
    set('description', description.value);
    set('environmentVariables', env.value());
    set('requiredRoles', roles.value.split(',').map((s) => s.trim()).filter(Boolean));
    set('useWorkloadIdentity', identity.checked || (resource ? false : undefined));
    if (isTool) {
      const toolObject = { ...(tool || {}), name: nameInput.value.trim(), inputSchema: inputSchema.value() };
      if (toolDescription.value) toolObject.description = toolDescription.value;
      else delete toolObject.description;
      const output = outputSchema.value();
      if (output === undefined) delete toolObject.outputSchema;
      else toolObject.outputSchema = output;
      out.toolDefinition = { ...td, tool: toolObject, port: numberOrText(toolPort.value), path: toolPath.value.trim() };
    }
    return out;
  }

  async function save() {
    clearErrors(form, summary);
    const local = [inputSchema.error(), outputSchema.error()].filter(Boolean);
    if (local.length) {
      showErrors(form, summary, local);
      return;
    }
    const payload = body();
    busy.textContent = 'Saving…';
    try {
      const saved = editing
        ? await api(`/${collection(kind)}/${encodeURIComponent(r.name)}`, { method: 'PUT', body: payload })
        : await api(`/${collection(kind)}`, { method: 'POST', body: payload });
      notice(`${isTool ? 'Tool' : 'Adapter'} ${saved.name} ${editing ? 'saved' : 'created'}`);
      location.hash = `#/${collection(kind)}/${encodeURIComponent(saved.name)}`;
    } catch (err) {
      busy.textContent = '';
      if (err.errors && err.errors.length) showErrors(form, summary, err.errors);
      else fill(summary, problemBox(err));
      summary.focus();
    }
  }

  async function remove() {
    const ok = await confirmDialog(`Delete ${r.name}?`,
      `The ${isTool ? 'tool' : 'adapter'} ${r.name} and its running replicas will be removed. This cannot be undone.`);
    if (!ok) return;
    try {
      await api(`/${collection(kind)}/${encodeURIComponent(r.name)}`, { method: 'DELETE' });
      notice(`${r.name} deleted`);
      location.hash = '#/';
    } catch (err) {
      fill(summary, problemBox(err));
      summary.focus();
    }
  }
}

function numberOrText(value) {
  const trimmed = String(value).trim();
  if (trimmed === '') return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : trimmed;
}

/** Key/value rows for environmentVariables. */
function envEditor(initial) {
  const rows = h('div.env-rows');
  const addRow = (key = '', value = '') => {
    const keyInput = h('input', { type: 'text', value: key, 'aria-label': 'Variable name', spellcheck: 'false', autocomplete: 'off' });
    const valueInput = h('input', { type: 'text', value, 'aria-label': 'Value', spellcheck: 'false', autocomplete: 'off' });
    const row = h('div.env-row', keyInput, h('span', { 'aria-hidden': 'true' }, '='), valueInput,
      h('button.secondary.small', { type: 'button', 'aria-label': 'Remove variable',
        on: { click: () => row.remove() } }, 'Remove'));
    rows.append(row);
    return keyInput;
  };
  for (const [key, value] of Object.entries(initial)) addRow(key, value);
  const group = h('fieldset.env', { dataset: { field: 'environmentVariables' } },
    h('legend', 'Environment variables'),
    rows,
    h('button.secondary.small', { type: 'button', on: { click: () => addRow().focus() } }, 'Add variable'),
    h('p.field-error', { hidden: true }));
  const value = () => {
    const out = {};
    for (const row of rows.children) {
      const [key, , val] = row.querySelectorAll('input');
      if (key.value.trim()) out[key.value.trim()] = val.value;
    }
    return out;
  };
  return { group, value };
}

/** A JSON textarea that says at once whether its text parses. */
function jsonEditor(initial, label, optional = false) {
  const area = h('textarea.code', { rows: optional ? 4 : 10, spellcheck: 'false',
    value: initial === undefined ? '' : JSON.stringify(initial, null, 2) });
  const state = h('span.small', { 'aria-live': 'polite' });
  const parse = () => {
    const text = area.value.trim();
    if (!text && optional) return { value: undefined };
    try {
      return { value: JSON.parse(text) };
    } catch (err) {
      return { error: err.message };
    }
  };
  const check = () => {
    const { error } = parse();
    state.textContent = error ? `Not valid JSON: ${error}` : 'Valid JSON';
    state.className = error ? 'small bad-text' : 'small ok-text';
  };
  area.addEventListener('input', check);
  const format = () => {
    const { value, error } = parse();
    if (!error && value !== undefined) area.value = JSON.stringify(value, null, 2);
    check();
  };
  const tools = h('div.json-tools', h('button.secondary.small', { type: 'button', on: { click: format } },
    `Format ${label}`), ' ', state);
  return {
    area,
    tools,
    value: () => parse().value,
    error: () => {
      const { error } = parse();
      return error ? { field: `toolDefinition.tool.${label}`, message: `is not valid JSON: ${error}` } : null;
    },
  };
}

function clearErrors(form, summary) {
  fill(summary);
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Puts each error next to the field it names (the longest matching data-field), the rest on top. */
function showErrors(form, summary, errors) {
  const fields = [...form.querySelectorAll('[data-field]')];
  const unplaced = [];
  let first = null;
  for (const error of errors) {
    const name = error.field || '';
    const match = fields
      .filter((el) => {
        const f = el.dataset.field;
        return name === f || name.startsWith(`${f}.`) || name.startsWith(`${f}[`);
      })
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    const slot = match && [...match.querySelectorAll('.field-error')].pop();
    if (!slot || match.closest('[hidden]')) {
      unplaced.push(error);
      continue;
    }
    slot.hidden = false;
    slot.textContent = slot.textContent ? `${slot.textContent}; ${describe(error, match)}` : describe(error, match);
    const control = match.querySelector('input, textarea, select');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      first = first || control;
    }
  }
  fill(summary, h('div.alert.error', { role: 'alert' },
    h('strong', `${errors.length} problem${errors.length === 1 ? '' : 's'} to fix`),
    unplaced.length ? h('ul', unplaced.map((e) => h('li', h('code', e.field), ': ', e.message))) : null));
  if (first) first.focus();
}

function describe(error, match) {
  return error.field === match.dataset.field ? error.message : `${error.field}: ${error.message}`;
}
