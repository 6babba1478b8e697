// Top level: ask the server whether this browser has a session, then show the login form or the dashboard.
import { useEffect, useState } from "preact/hooks";
import { fetchSession, type Session } from "./api.ts";
import { Dashboard } from "./components/dashboard/index.tsx";
import { Login } from "./components/login/index.tsx";

type Auth = { kind: "checking" } | { kind: "signed-out" } | { kind: "signed-in"; session: Session } | { kind: "unreachable" };

export function App() {
  const [auth, setAuth] = useState<Auth>({ kind: "checking" });

  const check = () =>
    fetchSession()
      .then((session) => setAuth(session ? { kind: "signed-in", session } : { kind: "signed-out" }))
      .catch(() => setAuth({ kind: "unreachable" }));

  useEffect(() => {
    void check();
  }, []);

  switch (auth.kind) {
    case "checking":
      return <p class="centre muted">Loading…</p>;
    case "unreachable":
      return (
        <p class="centre" role="alert">
          The admin API could not be reached. <button type="button" onClick={check}>Retry</button>
        </p>
      );
    case "signed-out":
      return <Login onLoggedIn={check} />;
    case "signed-in":
      return <Dashboard name={auth.session.name} onSignedOut={() => setAuth({ kind: "signed-out" })} />;
  }
}
