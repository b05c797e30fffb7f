// Rendered on the server for each request, from the identity header: the
// user is in the HTML of the first response.
import { headers } from 'next/headers';
import { identityFrom } from '@/lib/identity';

export default async function Profile() {
  const user = await identityFrom(await headers());
  if (!user) {
    // proxy.ts redirects signed-out visitors; an identity that expired on the way lands here.
    return <p className="error">Not signed in.</p>;
  }
  return (
    <>
      <h1>Profile</h1>
      <p>
        Signed in as <strong id="email">{user.email ?? user.phone ?? user.sub}</strong>
      </p>
      <table>
        <tbody>
          <tr><th>User id</th><td id="sub">{user.sub}</td></tr>
          <tr><th>Role</th><td>{user.role}</td></tr>
          <tr><th>Assurance level</th><td>{user.aal}</td></tr>
          <tr><th>Anonymous</th><td>{String(user.is_anonymous)}</td></tr>
          <tr><th>Proxy session</th><td id="sid">{user.sid}</td></tr>
          <tr><th>Auth session</th><td>{user.session_id}</td></tr>
        </tbody>
      </table>
      <h2>app_metadata</h2>
      <pre>{JSON.stringify(user.app_metadata, null, 2)}</pre>
    </>
  );
}
