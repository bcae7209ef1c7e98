import DOMPurify from 'dompurify';
import { marked } from 'marked';

/** A reply as sanitised HTML: model output is untrusted text. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html);
}
