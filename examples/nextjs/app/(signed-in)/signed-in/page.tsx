// `/` for a signed-in visitor: statically generated like the public one, and
// served in its place by proxy.ts's rewrite, so the first paint is signed in.
import Link from 'next/link';

export default function SignedInHome() {
  return (
    <>
      <h1 id="home">Welcome back</h1>
      <p>
        You are signed in. This page was generated at build time; the proxy&apos;s identity header
        picked it for you before a byte was sent.
      </p>
      <p>
        See <Link href="/profile">who you are</Link>, <Link href="/account">your sessions</Link>,
        or <Link href="/realtime">the Realtime demo</Link>.
      </p>
    </>
  );
}
