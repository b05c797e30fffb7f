import { SessionList } from '@/components/SessionList';

export default function Account() {
  return (
    <>
      <h1>Your sessions</h1>
      <p className="note">Every browser signed in as you. Revoking one signs it out at once.</p>
      <SessionList />
    </>
  );
}
