// The admin-token form: POST /admin/login sets the session cookie; a refused token says so.
import { useState } from "preact/hooks";
import { ApiError, login } from "../../api.ts";

export function Login({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [token, setToken] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      await login(token);
      onLoggedIn();
    } catch (error) {
      setMessage(loginFailure(error));
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-form" onSubmit={submit}>
        <h1>azure-openai-proxy</h1>
        <label for="admin-token">Admin token</label>
        <input
          id="admin-token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
        />
        <button type="submit" disabled={busy || token === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {message && (
          <p class="login-error" role="alert">
            {message}
          </p>
        )}
      </form>
    </main>
  );
}

function loginFailure(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return "That admin token was refused.";
    if (error.status === 429) return "Too many attempts; wait a moment and try again.";
    return `Sign-in failed: ${error.message}`;
  }
  return "The proxy could not be reached.";
}
