// A docker CLI double for the measured-launch tests: there is no container engine on the build
// machines. It implements the few commands the launch scripts run, with the output shapes Docker
// documents (docs.docker.com: `docker compose config --format json`, `docker compose up -d`,
// `docker ps -q`, `docker inspect`, `docker image inspect`, `docker run -d`, `docker events
// --format '{{json .}}'`). Compose's model comes from the npm `yaml` package (YAML 1.2 core schema,
// merge keys on, as compose-go reads it) and Compose's interpolation rules — a reading independent
// of the .NET reader (Attestation.Verifier/ComposeRelease.cs) it is compared with.
//
// State lives in $DOCKER_DOUBLE_STATE: containers.json (the engine's containers), events.jsonl (its
// event stream), images.json (optional, written by a test: reference → {Id, RepoDigests}, an image
// store that holds something else than the reference names). Any other image reference "pulls" as
// the image whose RepoDigests is the reference itself (name@digest, the tag dropped).
// Never reached by the product: tests put its bin/ first on PATH.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const state = process.env.DOCKER_DOUBLE_STATE;
if (!state) fail('DOCKER_DOUBLE_STATE is not set (docker double)', 125);
fs.mkdirSync(state, { recursive: true });
const file = (name) => path.join(state, name);

function fail(message, code = 1) {
  process.stderr.write(message + '\n');
  process.exit(code);
}

function readJson(name, fallback) {
  try { return JSON.parse(fs.readFileSync(file(name), 'utf8')); } catch { return fallback; }
}

function writeJson(name, value) {
  fs.writeFileSync(file(name) + '.tmp', JSON.stringify(value, null, 2));
  fs.renameSync(file(name) + '.tmp', file(name));
}

const sha = (s) => createHash('sha256').update(s).digest('hex');

// --- Compose ---------------------------------------------------------------------------------

// Compose's dotenv format, as far as the launch's files go: NAME=VALUE, `export ` prefix, quotes.
function readEnvFile(p) {
  const vars = {};
  for (const raw of fs.readFileSync(p, 'utf8').split('\n')) {
    let line = raw.replace(/\r$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trim();
    const eq = line.indexOf('=');
    if (eq < 0) { vars[line] = ''; continue; }
    let value = line.slice(eq + 1).trim();
    if (/^(".*"|'.*')$/.test(value)) value = value.slice(1, -1);
    vars[line.slice(0, eq).trim()] = value;
  }
  return vars;
}

// Compose interpolation: $$, $NAME, ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?x}, ${NAME?x},
// ${NAME:+x}, ${NAME+x}, defaults interpolated in turn.
function interpolate(value, env, where) {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '$') { out += c; continue; }
    if (value[i + 1] === '$') { out += '$'; i++; continue; }
    if (value[i + 1] === '{') {
      let depth = 1, j = i + 2;
      for (; j < value.length && depth > 0; j++) {
        if (value[j] === '{') depth++;
        else if (value[j] === '}') depth--;
      }
      if (depth !== 0) fail(`invalid interpolation format for ${where}: "${value}"`, 15);
      const inner = value.slice(i + 2, j - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
      if (!m) fail(`invalid interpolation format for ${where}: "${value}"`, 15);
      const [, name, op, arg = ''] = m;
      const set = Object.hasOwn(env, name) ? env[name] : undefined;
      const empty = set === undefined || set === '';
      switch (op) {
        case undefined: out += set ?? ''; break;
        case ':-': out += empty ? interpolate(arg, env, where) : set; break;
        case '-': out += set === undefined ? interpolate(arg, env, where) : set; break;
        case ':?': if (empty) fail(`required variable ${name} is missing a value: ${arg}`, 15); out += set; break;
        case '?': if (set === undefined) fail(`required variable ${name} is missing a value: ${arg}`, 15); out += set; break;
        case ':+': out += empty ? '' : interpolate(arg, env, where); break;
        case '+': out += set === undefined ? '' : interpolate(arg, env, where); break;
      }
      i = j - 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(value.slice(i + 1));
    if (!m) fail(`invalid interpolation format for ${where}: "${value}"`, 15);
    out += env[m[0]] ?? '';
    i += m[0].length;
  }
  return out;
}

function interpolateTree(node, env, where) {
  if (typeof node === 'string') return interpolate(node, env, where);
  if (Array.isArray(node)) return node.map((n, i) => interpolateTree(n, env, `${where}[${i}]`));
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolateTree(v, env, where ? `${where}.${k}` : k);
    return out;
  }
  return node;
}

function loadYaml(p) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(p, 'utf8'), { merge: true, uniqueKeys: true });
  if (docs.length !== 1) fail(`${p}: expected one YAML document, found ${docs.length}`, 15);
  if (docs[0].errors.length) fail(`yaml: ${docs[0].errors[0].message}`, 15);
  const root = docs[0].toJS({ maxAliasCount: 1000 });
  if (!root || typeof root !== 'object' || Array.isArray(root)) fail(`${p}: top-level object must be a mapping`, 15);
  return root;
}

function normalizeService(s) {
  const out = { ...s };
  if (Array.isArray(out.environment)) {
    const env = {};
    for (const e of out.environment) {
      const eq = String(e).indexOf('=');
      env[eq < 0 ? e : e.slice(0, eq)] = eq < 0 ? null : e.slice(eq + 1);
    }
    out.environment = env;
  }
  out.networks ??= { default: null };
  return out;
}

function resolveExtends(services, name, seen = new Set()) {
  const s = services[name];
  if (!s.extends) return s;
  if (seen.has(name)) fail(`circular extends for service ${name}`, 15);
  seen.add(name);
  const base = typeof s.extends === 'string' ? s.extends : s.extends.service;
  if (!services[base]) fail(`cannot extend service "${name}": service "${base}" not found`, 15);
  const merged = { ...resolveExtends(services, base, seen), ...s };
  delete merged.extends;
  return merged;
}

function composeModel(opts) {
  const files = opts.files.length ? opts.files : ['compose.yaml'];
  const projectDir = opts.projectDir ?? path.dirname(path.resolve(files[0]));
  let env = {};
  const envFiles = opts.envFiles.length ? opts.envFiles : [path.join(projectDir, '.env')].filter((p) => fs.existsSync(p));
  for (const f of envFiles) {
    if (!fs.existsSync(f)) fail(`couldn't find env file: ${f}`, 14);
    env = { ...env, ...readEnvFile(f) };
  }
  env = { ...env, ...process.env }; // the shell's environment wins over env files (Compose's precedence)
  const raw = loadYaml(path.resolve(files[0]));
  const root = interpolateTree(raw, env, '');
  let services = { ...(root.services ?? {}) };
  for (const inc of root.include ?? []) {
    const p = path.resolve(projectDir, typeof inc === 'string' ? inc : inc.path);
    const included = interpolateTree(loadYaml(p), env, '');
    services = { ...(included.services ?? {}), ...services };
  }
  const out = {};
  for (const name of Object.keys(services)) {
    const s = resolveExtends(services, name);
    if (!s || typeof s !== 'object') fail(`services.${name} must be a mapping`, 15);
    if (s.image === undefined && s.build === undefined) fail(`service "${name}" has neither an image nor a build context specified: invalid compose project`, 15);
    out[name] = normalizeService(s);
  }
  const name = opts.project ?? root.name ?? path.basename(projectDir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  return { name, services: out, networks: { default: { name: `${name}_default`, ipam: {} } } };
}

function composeOptions(args) {
  const opts = { files: [], envFiles: [], projectDir: undefined, project: undefined, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-f' || a === '--file') opts.files.push(args[++i]);
    else if (a === '--env-file') opts.envFiles.push(args[++i]);
    else if (a === '--project-directory') opts.projectDir = args[++i];
    else if (a === '-p' || a === '--project-name') opts.project = args[++i];
    else { opts.rest = args.slice(i); break; }
  }
  return opts;
}

// --- Engine ----------------------------------------------------------------------------------

function pull(reference) {
  const store = readJson('images.json', {});
  if (store[reference]) return store[reference];
  const at = reference.lastIndexOf('@');
  let name = at < 0 ? reference : reference.slice(0, at);
  if (name.slice(name.lastIndexOf('/') + 1).includes(':')) name = name.slice(0, name.lastIndexOf(':'));
  return { Id: 'sha256:' + sha('image ' + reference), RepoDigests: at < 0 ? [] : [`${name}${reference.slice(at)}`] };
}

function start(name, reference) {
  const image = pull(reference);
  const images = readJson('pulled.json', {});
  images[image.Id] = { Id: image.Id, RepoTags: [], RepoDigests: image.RepoDigests };
  writeJson('pulled.json', images);
  const containers = readJson('containers.json', []).filter((c) => c.Name !== name);
  const id = sha(`container ${name} ${reference} ${Date.now()} ${Math.random()}`);
  containers.push({ Id: id, Name: name, Reference: reference, ImageId: image.Id, Running: true });
  writeJson('containers.json', containers);
  const now = Date.now();
  const event = {
    status: 'start', id, from: reference, Type: 'container', Action: 'start',
    Actor: { ID: id, Attributes: { image: reference, name } }, scope: 'local',
    time: Math.floor(now / 1000), timeNano: now * 1e6,
  };
  fs.appendFileSync(file('events.jsonl'), JSON.stringify(event) + '\n');
  return id;
}

function find(idOrName) {
  return readJson('containers.json', []).find((c) => c.Id === idOrName || c.Id.startsWith(idOrName) && idOrName.length >= 12 || c.Name === idOrName);
}

async function events(since) {
  const log = file('events.jsonl');
  // Only new events, like `docker events`; with --since SECONDS, first the earlier ones from then on.
  let offset = fs.existsSync(log) ? fs.statSync(log).size : 0;
  if (since !== undefined && offset > 0) {
    for (const line of fs.readFileSync(log, 'utf8').slice(0, offset).split('\n').filter(Boolean))
      if (JSON.parse(line).time >= since) process.stdout.write(line + '\n');
  }
  process.stdout.on('error', () => process.exit(0));
  for (;;) {
    const size = fs.existsSync(log) ? fs.statSync(log).size : 0;
    if (size > offset) {
      const fd = fs.openSync(log, 'r');
      const buffer = Buffer.alloc(size - offset);
      fs.readSync(fd, buffer, 0, buffer.length, offset);
      fs.closeSync(fd);
      offset = size;
      process.stdout.write(buffer);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// --- Dispatch --------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const command = argv[0];
if (command === 'compose') {
  const opts = composeOptions(argv.slice(1));
  const [verb, ...rest] = opts.rest;
  if (verb === 'version') { console.log('Docker Compose version v2.40.3 (double)'); process.exit(0); }
  const model = composeModel(opts);
  if (verb === 'config') {
    if (!(rest.includes('--format') && rest[rest.indexOf('--format') + 1] === 'json')) fail('docker double: only `config --format json`', 125);
    process.stdout.write(JSON.stringify(model, null, 2) + '\n');
  } else if (verb === 'up') {
    for (const [name, s] of Object.entries(model.services)) {
      if (s.image === undefined) fail(`docker double: cannot build service ${name}`, 125);
      start(s.container_name ?? `${model.name}-${name}-1`, s.image);
    }
  } else {
    fail(`docker double: compose ${verb} is not implemented`, 125);
  }
} else if (command === 'ps') {
  for (const c of readJson('containers.json', []).filter((x) => x.Running)) console.log(argv.includes('--no-trunc') ? c.Id : c.Id.slice(0, 12));
} else if (command === 'inspect' || command === 'container' && argv[1] === 'inspect') {
  const ids = argv.slice(command === 'inspect' ? 1 : 2).filter((a) => !a.startsWith('-'));
  const found = ids.map(find);
  if (found.some((c) => !c)) { console.log('[]'); fail(`Error: No such object: ${ids[found.indexOf(undefined)]}`); }
  console.log(JSON.stringify(found.map((c) => ({
    Id: c.Id, Name: '/' + c.Name, Image: c.ImageId,
    State: { Status: c.Running ? 'running' : 'exited', Running: c.Running },
    Config: { Image: c.Reference },
  })), null, 4));
} else if (command === 'image' && argv[1] === 'inspect') {
  const pulled = readJson('pulled.json', {});
  const ids = argv.slice(2).filter((a) => !a.startsWith('-'));
  const found = ids.map((id) => pulled[id]);
  if (found.some((i) => !i)) { console.log('[]'); fail(`Error: No such image: ${ids[found.indexOf(undefined)]}`); }
  console.log(JSON.stringify(found, null, 4));
} else if (command === 'run') {
  // docker run -d --name NAME REF
  const name = argv[argv.indexOf('--name') + 1];
  const reference = argv[argv.length - 1];
  console.log(start(name, reference));
} else if (command === 'events') {
  const at = argv.indexOf('--since');
  await events(at < 0 ? undefined : Number(argv[at + 1]));
} else {
  fail(`docker double: ${command} is not implemented`, 125);
}
