// Where to go after signing in: the `next` query parameter, kept only when
// it is a path on this site (no open redirect to another origin).

/** `next` if it is a path on this site, else `/`. */
export function safeNext(next: string | null | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}
