/**
 * The XML subset that conntrack-tools writes for `-o xml` (libnetfilter_conntrack `nfct_snprintf(NFCT_O_XML)`):
 * one element per line, elements with double-quoted attributes, text-only leaves, empty elements (`<assured/>`),
 * the five predefined entities, no comments, CDATA, namespaces or processing instructions inside a flow.
 * Anything else is refused with a `DecodeError('conntrack', offset, code)`: the input is the output of a child
 * process, but a line that does not look exactly like this is not trusted either.
 */
import { DecodeError } from '../../wire/decode-error.ts';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** the concatenated text directly inside the element (entities decoded) */
  text: string;
}

/** A flow is 5 levels deep (flow > meta > layer4 > sport) and has about 40 elements; these bound the work per line. */
const MAX_DEPTH = 8;
const MAX_ELEMENTS = 128;

const NAME = /[A-Za-z_][A-Za-z0-9_.-]*/y;
const ATTR = /\s+([A-Za-z_][A-Za-z0-9_.-]*)="([^"<]*)"/y;
const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string, offset: number): string {
  return s.replace(/&([a-z]+);|&/g, (m, name: string | undefined, at: number) => {
    const v = name === undefined ? undefined : ENTITY[name];
    if (v === undefined) throw new DecodeError('conntrack', offset + at, 'xml_entity', `unknown entity ${m}`);
    return v;
  });
}

/** Parses exactly one element that spans the whole string. */
export function parseXmlElement(s: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  let i = 0;
  const fail = (code: string, detail: string): never => {
    throw new DecodeError('conntrack', i, code, detail);
  };
  while (i < s.length) {
    if (root) fail('xml_trailing', 'data after the root element');
    if (s[i] !== '<') {
      const end = s.indexOf('<', i);
      const stop = end < 0 ? s.length : end;
      const top = stack[stack.length - 1];
      if (!top) fail('xml_text_outside', 'text outside an element');
      top!.text += decodeEntities(s.slice(i, stop), i);
      i = stop;
      continue;
    }
    if (s[i + 1] === '/') {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(s);
      if (!m) fail('xml_syntax', 'bad closing tag');
      const top = stack.pop();
      if (!top || top.name !== m![0]) fail('xml_mismatch', `</${m![0]}> does not close <${top?.name ?? ''}>`);
      i = NAME.lastIndex;
      if (s[i] !== '>') fail('xml_syntax', 'closing tag not terminated');
      i++;
      if (stack.length === 0) root = top;
      continue;
    }
    NAME.lastIndex = i + 1;
    const m = NAME.exec(s);
    if (!m) fail('xml_syntax', 'bad tag name');
    const el: XmlElement = { name: m![0], attrs: {}, children: [], text: '' };
    i = NAME.lastIndex;
    for (;;) {
      ATTR.lastIndex = i;
      const a = ATTR.exec(s);
      if (!a) break;
      if (Object.hasOwn(el.attrs, a[1]!)) fail('xml_syntax', `attribute ${a[1]} twice`);
      el.attrs[a[1]!] = decodeEntities(a[2]!, i);
      i = ATTR.lastIndex;
    }
    if (++count > MAX_ELEMENTS) fail('xml_too_large', `more than ${MAX_ELEMENTS} elements`);
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    if (s.startsWith('/>', i)) {
      i += 2;
      if (!parent) root = el;
    } else if (s[i] === '>') {
      i++;
      if (stack.length >= MAX_DEPTH) fail('xml_too_deep', `nested deeper than ${MAX_DEPTH}`);
      stack.push(el);
    } else fail('xml_syntax', 'tag not terminated');
  }
  if (stack.length) fail('xml_truncated', `<${stack[stack.length - 1]!.name}> not closed`);
  if (!root) fail('xml_truncated', 'no element');
  return root!;
}

/** The first child element with this name (and attribute value, if given). */
export function child(el: XmlElement, name: string, attr?: [string, string]): XmlElement | undefined {
  return el.children.find((c) => c.name === name && (!attr || c.attrs[attr[0]] === attr[1]));
}
