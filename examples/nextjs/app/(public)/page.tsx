// `/` for a signed-out visitor (statically generated). Signed-in visitors
// get app/(signed-in)/signed-in/page.tsx instead: proxy.ts rewrites to it.
import Link from 'next/link';

export default function PublicHome() {
  return (
    <>
      <h1 id="home">Welcome</h1>
      <p>
        This app runs behind sb-cookie-proxy. Your session is an HttpOnly cookie the page cannot
        read; the app learns who you are from the proxy&apos;s signed header.
      </p>
      <p>
        <Link href="/signin">Sign in</Link> or <Link href="/signup">create an account</Link>.
      </p>
    </>
  );
}
