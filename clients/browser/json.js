// A strict JSON reader for evidence and policies: it refuses what JSON.parse silently accepts
// (a member named twice in one object — JSON.parse keeps the last, other parsers the first), keeps
// numbers as their text, never builds prototypes (objects have none), bounds nesting, and records
// where each top-level member's value starts and ends (collateral signatures cover those exact bytes).

/** A JSON number, kept as written. */
export class JsonNumber {
  constructor(raw) { this.raw = raw; }
  valueOf() { return Number(this.raw); }
}

/** Thrown for text that is not JSON, or is ambiguous (a member named twice). */
export class JsonFormatError extends Error {}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Parses JSON text. Objects come back with a null prototype; numbers as JsonNumber.
 * @returns {{value: any, spans: Map<string, [number, number]>}} spans: [start, end) of each
 *   top-level member's value in the text (only when the top level is an object)
 */
export function parseStrictJson(text, { maxDepth = 32 } = {}) {
  if (typeof text !== 'string') throw new JsonFormatError('not text');
  let at = 0;
  const spans = new Map();
  const fail = (what) => { throw new JsonFormatError(`${what} at offset ${at}`); };
  const ws = () => { while (at < text.length && WS.has(text.charCodeAt(at))) at++; };
  const literal = (word, value) => {
    if (text.startsWith(word, at)) { at += word.length; return value; }
    return fail('unexpected token');
  };
  const string = () => {
    if (text[at] !== '"') fail('expected a string');
    at++;
    let out = '';
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text.charCodeAt(at);
      if (c === 0x22) { at++; return out; }
      if (c < 0x20) fail('control character in a string');
      if (c === 0x5c) {
        const e = text[at + 1];
        at += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const h = text.slice(at, at + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(h, 16));
            at += 4;
            break;
          }
          default: fail('bad escape');
        }
        continue;
      }
      out += text[at++];
    }
  };
  const number = () => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(at, at + 400));
    if (!m || m[0].length === 0) fail('bad number');
    at += m[0].length;
    return new JsonNumber(m[0]);
  };
  const value = (depth) => {
    if (depth > maxDepth) fail('nested too deeply');
    ws();
    const c = text[at];
    if (c === '{') {
      at++;
      const obj = Object.create(null);
      const seen = new Set();
      ws();
      if (text[at] === '}') { at++; return obj; }
      for (;;) {
        ws();
        const key = string();
        if (seen.has(key)) throw new JsonFormatError(`the member '${printable(key)}' is named twice in one object (ambiguous)`);
        seen.add(key);
        ws();
        if (text[at] !== ':') fail('expected :');
        at++;
        ws();
        const start = at;
        obj[key] = value(depth + 1);
        if (depth === 0) spans.set(key, [start, at]);
        ws();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === '}') { at++; return obj; }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      at++;
      const arr = [];
      ws();
      if (text[at] === ']') { at++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === ']') { at++; return arr; }
        fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return number();
  };
  const result = value(0);
  ws();
  if (at !== text.length) fail('trailing text after the JSON value');
  return { value: result, spans };
}

/** A member name safe to show in a reason. */
export function printable(s) {
  return typeof s === 'string' && s.length <= 40 && /^[ -~]*$/.test(s) ? s : '(unprintable or long name)';
}

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber);
export const member = (o, name) => (isObject(o) && Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined);
export const has = (o, name) => isObject(o) && Object.prototype.hasOwnProperty.call(o, name);
export const text = (o, name) => { const v = member(o, name); return typeof v === 'string' ? v : null; };
