/** The parts of an OpenAPI document the Markdown reference reads. */
interface Media { example?: unknown; examples?: Record<string, { value: unknown }> }
interface Operation {
  operationId?: string; summary?: string; tags?: string[]; security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; schema?: { type?: string; pattern?: string } }[];
  requestBody?: { content?: Record<string, Media> };
  responses?: Record<string, { description?: string; content?: Record<string, Media> }>;
}
interface Document { tags?: { name: string; description?: string }[]; paths: Record<string, Record<string, Operation>> }

const examplesOf = (media: Media | undefined): unknown[] =>
  media?.example !== undefined ? [media.example] : Object.values(media?.examples ?? {}).map((e) => e.value);

const json = (value: unknown) => ['```json', JSON.stringify(value, null, 2), '```'];

function renderOperation(method: string, path: string, op: Operation): string[] {
  const lines = [`### \`${method.toUpperCase()} ${path}\``, '', `\`${op.operationId}\`${op.security?.length === 0 ? ' · no credential' : ''} — ${op.summary ?? ''}`, ''];
  const params = op.parameters ?? [];
  if (params.length > 0) {
    lines.push(`Parameters: ${params.map((p) => `\`${p.name}\` (${p.in}${p.required ? ', required' : ''})`).join(', ')}`, '');
  }
  for (const [i, example] of examplesOf(op.requestBody?.content?.['application/json']).entries()) {
    lines.push(i === 0 ? 'Request body, for example:' : 'or:', '', ...json(example), '');
  }
  const responses = Object.entries(op.responses ?? {});
  lines.push('| status | meaning |', '|---|---|', ...responses.map(([status, r]) => `| ${status} | ${(r.description ?? '').replaceAll('|', '\\|')} |`), '');
  for (const [status, r] of responses) {
    for (const example of examplesOf(r.content?.['application/json'])) lines.push(`Answer ${status}, for example:`, '', ...json(example), '');
  }
  return lines;
}

/**
 * docs/api.md: the OpenAPI document as a page to read in the repository, by tag in the
 * document's order, each operation with its id, parameters, answers and examples.
 */
export function apiMarkdown(doc: Document): string {
  const byTag = new Map<string, string[]>((doc.tags ?? []).map((tag) => [tag.name, []]));
  const sections = new Map((doc.tags ?? []).map((tag) => [tag.name, tag.description ?? '']));
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(...renderOperation(method, path, op));
    }
  }
  const lines = [
    '# Tollgate HTTP API reference',
    '',
    'Generated from the OpenAPI 3.1 document, [`openapi.json`](openapi.json) beside this file (the server serves',
    'the same at `GET /openapi.json`, and an interactive page at `GET /docs`). Regenerate both with',
    '`npx tollgate openapi --out ../docs/openapi.json --markdown ../docs/api.md` (from `server/`); a test fails while',
    'they differ from what the server serves. Every call but those marked *no credential* takes',
    '`Authorization: Bearer <credential>`; errors are `{ "error": { "code", "message", "requestId" } }` with the codes',
    'of [errors.md](errors.md).',
    '',
    ...[...byTag.keys()].map((tag) => `- [${tag}](#${tag})`),
    '',
  ];
  for (const [tag, operations] of byTag) {
    if (operations.length === 0) continue;
    lines.push(`## ${tag}`, '', ...(sections.get(tag) ? [sections.get(tag)!, ''] : []), ...operations);
  }
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
