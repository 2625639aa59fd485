// The review page: a paged list of predicted edges, the selected edge's evidence and neighbourhood graph, and
// accept / reject buttons. All graph text is inserted with textContent (never as markup) or drawn on the
// graph's canvas, so hostile names stay text. Bundled with cytoscape by build.mjs into static/review.js.
import cytoscape from 'cytoscape';

const PAGE = 25;
const state = { offset: 0, total: 0, edges: [], selected: null, cy: null };
const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function short(text, n) {
  const s = String(text ?? '');
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function say(text) {
  const box = $('message');
  box.textContent = text || '';
  box.hidden = !text;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  if (response.status === 401) {
    say('Not signed in: open the address that `kgp serve` printed (it carries the token).');
    throw new Error('401');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    say(`${response.status}: ${body.detail || response.statusText}`);
    throw new Error(String(response.status));
  }
  return body;
}

function filters() {
  return { rel_type: $('f-rel').value, run_id: $('f-run').value, status: $('f-status').value };
}

function fillSelect(select, counts) {
  const keep = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const [value, n] of Object.entries(counts).sort()) {
    const option = el('option', `${value} (${n})`);
    option.value = value;
    select.append(option);
  }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : '';
}

async function loadFacets() {
  const facets = await api('/api/facets');
  fillSelect($('f-rel'), facets.rel_types);
  fillSelect($('f-run'), facets.runs);
  if (!$('reviewer').value) $('reviewer').value = facets.reviewer || '';
}

async function loadEdges() {
  const params = new URLSearchParams({ ...filters(), offset: state.offset, limit: PAGE });
  const page = await api(`/api/edges?${params}`);
  state.total = page.total;
  state.edges = page.edges;
  renderList();
}

function edgeKey(e) {
  return JSON.stringify([e.head, e.rel_type, e.tail, e.run_id]);
}

function renderList() {
  const body = document.querySelector('#edges tbody');
  body.replaceChildren();
  for (const e of state.edges) {
    const row = el('tr');
    row.dataset.key = edgeKey(e);
    row.dataset.head = e.head;
    row.dataset.tail = e.tail;
    row.dataset.relType = e.rel_type;
    if (state.selected && edgeKey(state.selected) === row.dataset.key) row.classList.add('selected');
    const head = el('td', e.head_name ?? e.head);
    head.title = e.head;
    head.append(el('span', short(e.evidence, 110), 'evidence'));
    const tail = el('td', e.tail_name ?? e.tail);
    tail.title = e.tail;
    row.append(head, el('td', e.rel_type, 'rel'), tail, el('td', Number(e.probability).toFixed(2)),
      el('td', e.status, `status ${e.status}`));
    row.addEventListener('click', () => select(e));
    body.append(row);
  }
  if (!state.edges.length) {
    const row = el('tr');
    const cell = el('td', 'No predicted edges match these filters.');
    cell.colSpan = 5;
    row.append(cell);
    body.append(row);
  }
  const last = Math.min(state.offset + state.edges.length, state.total);
  $('page-info').textContent = state.total ? `${state.offset + 1}–${last} of ${state.total}` : '0 edges';
  $('prev').disabled = state.offset === 0;
  $('next').disabled = state.offset + PAGE >= state.total;
}

async function select(e) {
  state.selected = e;
  for (const row of document.querySelectorAll('#edges tbody tr')) {
    row.classList.toggle('selected', row.dataset.key === edgeKey(e));
  }
  const params = new URLSearchParams({ head: e.head, rel_type: e.rel_type, tail: e.tail, run_id: e.run_id });
  const detail = await api(`/api/edge?${params}`);
  renderDetail(detail);
}

function renderStatus(status) {
  const box = $('d-status');
  box.textContent = status;
  box.className = `status ${status}`;
  $('accept').disabled = status === 'accepted';
  $('reject').disabled = status === 'rejected';
}

function renderDetail({ edge, explanation, graph }) {
  $('detail').hidden = false;
  $('d-title').textContent = `${edge.head_name ?? edge.head}  -[:${edge.rel_type}]->  ${edge.tail_name ?? edge.tail}`;
  const reviewed = edge.reviewed_by ? ` · reviewed by ${edge.reviewed_by}` : '';
  const source = edge.rel_source && edge.rel_source !== edge.rel_type ? ` · ${edge.rel_type} is ${edge.rel_source}` : '';
  $('d-meta').textContent = `p = ${Number(edge.probability).toFixed(3)} · score ${Number(edge.score).toFixed(2)}`
    + ` · ${edge.head} → ${edge.tail} · run ${edge.run_id} · ${edge.model ?? ''}${reviewed}${source}`;
  renderStatus(edge.status);
  $('d-evidence').textContent = edge.evidence || '(no evidence stored)';
  renderExplanation(explanation);
  drawGraph(graph);
}

function list(title, items) {
  const box = document.createDocumentFragment();
  if (!items.length) return box;
  box.append(el('h3', title));
  const ul = el('ul', null, 'evidence-list');
  for (const parts of items) {
    const li = el('li');
    li.append(...parts);
    ul.append(li);
  }
  box.append(ul);
  return box;
}

function highlighted(snippet, match) {
  // the matched text marked inside its snippet, every piece as a text node
  const span = el('span');
  const i = snippet.toLowerCase().indexOf(String(match).toLowerCase());
  if (i < 0) {
    span.textContent = snippet;
    return span;
  }
  span.append(document.createTextNode(snippet.slice(0, i)), el('mark', snippet.slice(i, i + match.length)),
    document.createTextNode(snippet.slice(i + match.length)));
  return span;
}

function renderExplanation(x) {
  const paths = $('d-paths');
  const neighbours = $('d-neighbours');
  const mentions = $('d-mentions');
  for (const box of [paths, neighbours, mentions]) box.replaceChildren();
  if (!x) {
    paths.append(el('p', 'The run directory has no explanations for this edge (kgp explain recomputes them).'));
    return;
  }
  paths.append(list('Supporting paths (best rule confidence first)', x.paths.map((p) => [
    el('span', p.text),
    el('span', `  conf ${p.confidence.toFixed(2)} · ${p.instances} such path${p.instances === 1 ? '' : 's'}`, 'num'),
  ])));
  if (!x.paths.length) paths.append(el('p', 'No path of length 2–3 joins head and tail in the asserted graph.'));
  neighbours.append(list(`Most similar nodes with ${x.rel_type} to the tail (${x.neighbour_basis})`,
    x.neighbours.map((n) => [el('span', n.name), el('span', `  ${n.id} · cosine ${n.similarity.toFixed(2)}`, 'num')])));
  mentions.append(list('Where the head\'s text names the tail', x.mentions.map((m) => [
    highlighted(m.snippet, m.text), el('span', m.match === 'name' ? '  (name)' : '  (word)', 'num'),
  ])));
}

// ---- graph view ---------------------------------------------------------------------------------------------

function layout(graph) {
  // head left, tail right, nodes linked to both (and evidence-path nodes) between them, the rest around their end
  const head = graph.nodes.find((n) => n.role === 'head').id;
  const tail = graph.nodes.find((n) => n.role === 'tail').id;
  const touches = new Map(graph.nodes.map((n) => [n.id, new Set()]));
  for (const r of graph.relationships) {
    if (r.kind === 'predicted') continue;
    touches.get(r.source)?.add(r.target);
    touches.get(r.target)?.add(r.source);
  }
  const groups = { left: [], right: [], middle: [] };
  for (const n of graph.nodes) {
    if (n.id === head || n.id === tail) continue;
    const t = touches.get(n.id);
    if (n.role === 'path' || (t.has(head) && t.has(tail))) groups.middle.push(n.id);
    else if (t.has(tail)) groups.right.push(n.id);
    else groups.left.push(n.id);
  }
  const pos = new Map([[head, { x: -190, y: 0 }], [tail, { x: 190, y: 0 }]]);
  const arc = (ids, cx, from, to) => {
    const radius = Math.max(120, ids.length * 12);
    ids.forEach((id, i) => {
      const a = ((from + ((to - from) * (i + 0.5)) / ids.length) * Math.PI) / 180;
      const r = ids.length > 8 && i % 2 ? radius + 70 : radius; // staggered, so crowded labels do not overlap
      pos.set(id, { x: cx + r * Math.cos(a), y: r * Math.sin(a) });
    });
  };
  arc(groups.left, -190, 95, 265);
  arc(groups.right, 190, -85, 85);
  groups.middle.forEach((id, i) => pos.set(id, { x: 0, y: (i - (groups.middle.length - 1) / 2) * 60 - 90 }));
  return pos;
}

function drawGraph(graph) {
  const pos = layout(graph);
  const elements = graph.nodes.map((n) => ({
    group: 'nodes',
    data: { id: n.id, role: n.role, label: short(n.name, n.role === 'neighbour' ? 24 : 34) + (n.label ? `\n${n.label}` : '') },
    position: pos.get(n.id),
  }));
  graph.relationships.forEach((r, i) => elements.push({
    group: 'edges',
    data: {
      id: `rel-${i}`, source: r.source, target: r.target, kind: r.kind,
      label: r.kind === 'predicted' ? `${r.rel_type}  p=${Number(r.probability).toFixed(2)}` : r.rel_type,
    },
  }));
  if (state.cy) state.cy.destroy();
  state.cy = cytoscape({
    container: $('graph'),
    elements,
    layout: { name: 'preset', fit: true, padding: 30 },
    minZoom: 0.2,
    maxZoom: 3,
    style: [
      { selector: 'node', style: {
        label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-max-width': 120, 'text-valign': 'bottom',
        'text-margin-y': 3, width: 14, height: 14, 'background-color': '#b8c0c8', color: '#2b3036' } },
      { selector: 'node[role = "head"]', style: { 'background-color': '#2f6db5', width: 26, height: 26, 'font-size': 12, 'font-weight': 'bold' } },
      { selector: 'node[role = "tail"]', style: { 'background-color': '#c2571a', width: 26, height: 26, 'font-size': 12, 'font-weight': 'bold' } },
      { selector: 'node[role = "similar"]', style: { 'background-color': '#e0a47a' } },
      { selector: 'node[role = "path"]', style: { 'background-color': '#2e8b57', width: 18, height: 18 } },
      { selector: 'edge', style: {
        width: 1, 'line-color': '#c3c9cf', 'target-arrow-color': '#c3c9cf', 'target-arrow-shape': 'triangle',
        'arrow-scale': 0.7, 'curve-style': 'bezier', label: 'data(label)', 'font-size': 7, color: '#7a838c',
        'text-rotation': 'autorotate', 'text-background-color': '#fcfcfd', 'text-background-opacity': 1 } },
      { selector: 'edge[kind = "path"]', style: { width: 2.5, 'line-color': '#2e8b57', 'target-arrow-color': '#2e8b57', color: '#2e8b57', 'font-size': 8 } },
      { selector: 'edge[kind = "predicted"]', style: {
        width: 3.5, 'line-color': '#d9480f', 'target-arrow-color': '#d9480f', 'line-style': 'dashed',
        color: '#d9480f', 'font-size': 10, 'font-weight': 'bold' } },
    ],
  });
  $('graph').dataset.nodes = String(graph.nodes.length);
}

// ---- review ---------------------------------------------------------------------------------------------------

async function review(action) {
  const e = state.selected;
  if (!e) return;
  $('accept').disabled = true;
  $('reject').disabled = true;
  try {
    const result = await api('/api/review', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ head: e.head, rel_type: e.rel_type, tail: e.tail, run_id: e.run_id, action,
        by: $('reviewer').value || null }),
    });
    e.status = result.status;
    renderStatus(result.status);
    say(result.conflicts ? 'Someone else reviewed this edge meanwhile; their decision was kept.' : '');
    await loadFacets();
    await loadEdges();
  } catch (err) {
    renderStatus(e.status);
  }
}

function reload() {
  state.offset = 0;
  loadEdges().catch(() => {});
}

document.addEventListener('DOMContentLoaded', () => {
  for (const id of ['f-rel', 'f-run', 'f-status']) $(id).addEventListener('change', reload);
  $('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); loadEdges().catch(() => {}); });
  $('next').addEventListener('click', () => { state.offset += PAGE; loadEdges().catch(() => {}); });
  $('accept').addEventListener('click', () => review('accept'));
  $('reject').addEventListener('click', () => review('reject'));
  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    if (ev.key === 'a' && !$('accept').disabled) review('accept');
    if (ev.key === 'r' && !$('reject').disabled) review('reject');
  });
  loadFacets().then(loadEdges).then(() => {
    document.body.dataset.ready = 'true';
  }).catch(() => {});
});
