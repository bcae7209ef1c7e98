import { ModelDownloadError } from './model-download-error.js';

/** What a `--model` string names, once it is known not to be an existing local path. */
export type ModelReference =
  /** Looks like a path (`./x.gguf`, `/models/x`, `x.gguf`, `dir/x.gguf`) but nothing is there. */
  | { readonly kind: 'missing-path'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | {
      readonly kind: 'hub';
      /** `owner/repo`. */
      readonly repoId: string;
      /** Branch, tag or commit; `main` unless the reference says `@revision`. */
      readonly revision: string;
      /** A file inside the repository (`owner/repo/sub/model.gguf`). */
      readonly file?: string;
      /** A quantization name (`owner/repo:Q8_0`), as written; matched case-insensitively. */
      readonly quant?: string;
    };

// The hub's own limits on owner and repository names: letters, digits, `-`, `_`, `.`, at most 96.
const namePattern = '[A-Za-z0-9][A-Za-z0-9._-]{0,95}';
// A revision without `/`, so that `owner/repo@rev/file.gguf` stays unambiguous (`refs/pr/1` is not
// expressible; its commit hash is).
const hubPattern = new RegExp(
  `^(${namePattern})/(${namePattern})(?:@([A-Za-z0-9._-]+))?(?::([A-Za-z0-9._-]+)|/(.+))?$`,
);
// A two-part name ending like a model file is far likelier a mistyped relative path than a repository.
const fileLikeRepo = /\.(?:gguf|bin|safetensors|model|json|pth?)$/i;

/**
 * Reads a model reference that is not an existing path: an `http(s)://` URL, a Hugging Face
 * `owner/repo[@revision][:quant | /path/in/repo]`, or something path-like that is missing.
 * Anything else raises a `bad-reference` ModelDownloadError.
 */
export function parseModelReference(reference: string): ModelReference {
  if (/^https?:\/\//i.test(reference)) {
    try {
      return { kind: 'url', url: new URL(reference).href };
    } catch (cause) {
      throw new ModelDownloadError(reference, 'bad-reference', 'not a valid URL', { cause });
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(reference)) {
    throw new ModelDownloadError(
      reference,
      'bad-reference',
      'only http:// and https:// URLs can be downloaded; write a Hugging Face repository as owner/repo',
    );
  }
  if (/^(?:\.{1,2}(?:[/\\]|$)|[/\\~]|[A-Za-z]:[/\\])/.test(reference) || reference.includes('\\')) {
    return { kind: 'missing-path', path: reference };
  }
  const parts = hubPattern.exec(reference);
  if (!parts) {
    if (!reference.includes('/')) return { kind: 'missing-path', path: reference };
    throw new ModelDownloadError(
      reference,
      'bad-reference',
      'not an existing path, an http(s) URL or a Hugging Face reference ' +
        '(owner/repo, owner/repo:QUANT, owner/repo/file.gguf, with an optional @revision after repo)',
    );
  }
  const [, owner = '', repo = '', revision, quant, file] = parts;
  if (revision === undefined && quant === undefined && file === undefined && fileLikeRepo.test(repo)) {
    return { kind: 'missing-path', path: reference };
  }
  if (file !== undefined) {
    const segments = file.split('/');
    if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
      throw new ModelDownloadError(
        reference,
        'bad-reference',
        `"${file}" is not a file path inside a repository`,
      );
    }
  }
  return {
    kind: 'hub',
    repoId: `${owner}/${repo}`,
    revision: revision ?? 'main',
    ...(file === undefined ? {} : { file }),
    ...(quant === undefined ? {} : { quant }),
  };
}
