// Top level: ask the server whether this browser has a session, then show the login form or the dashboard.
import { useEffect, useState } from "preact/hooks";
import { ApiError, fetchSession, type Session } from "./api.ts";
import { Dashboard } from "./components/dashboard/index.tsx";
import { Login } from "./components/login/index.tsx";

type Auth = { kind: "checking" } | { kind: "signed-out" } | { kind: "signed-in"; session: Session } | { kind: "unavailable"; message: string };

export function App() {
  const [auth, setAuth] = useState<Auth>({ kind: "checking" });

  const check = () =>
    fetchSession()
      .then((session) => setAuth(session ? { kind: "signed-in", session } : { kind: "signed-out" }))
      // The admin API can be switched off (production without a token) or limited to loopback: say so.
      .catch((error: unknown) =>
        setAuth({ kind: "unavailable", message: error instanceof ApiError ? error.message : "The admin API could not be reached." }),
      );

  useEffect(() => {
    void check();
  }, []);

  switch (auth.kind) {
    case "checking":
      return <p class="centre muted">Loading…</p>;
    case "unavailable":
      return (
        <p class="centre" role="alert">
          {auth.message} <button type="button" onClick={check}>Retry</button>
        </p>
      );
    case "signed-out":
      return <Login onLoggedIn={check} />;
    case "signed-in":
      return <Dashboard name={auth.session.name} onSignedOut={() => setAuth({ kind: "signed-out" })} />;
  }
}
