// A protected page that is still statically generated: the gate is proxy.ts,
// not the page, so nothing here runs per request.
export default function Dashboard() {
  return (
    <>
      <h1 id="dashboard">Dashboard</h1>
      <p>Only signed-in visitors reach this page; signed-out ones are sent to sign in first.</p>
    </>
  );
}
