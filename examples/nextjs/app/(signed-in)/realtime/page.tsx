import { BroadcastDemo } from '@/components/BroadcastDemo';

export default function RealtimePage() {
  return (
    <>
      <h1>Realtime broadcast</h1>
      <p className="note">
        Open this page twice: a message sent in one shows in the other. The WebSocket goes to this
        page&apos;s origin (the proxy), under <code>next dev</code> and <code>next start</code> alike.
      </p>
      <BroadcastDemo />
    </>
  );
}
