// The last few failed client requests, newest first, as they happen.
import type { RecentError } from "../../contract.ts";
import { formatClock } from "../../lib/format.ts";

export function RecentErrors({ errors }: { errors: RecentError[] }) {
  if (errors.length === 0) return <p class="muted">No failed request recently.</p>;
  return (
    <div class="table-scroll">
      <table class="errors" data-role="recent-errors">
        <thead>
          <tr>
            <th>time</th>
            <th>model</th>
            <th>instance</th>
            <th>status</th>
            <th>code</th>
            <th>request id</th>
          </tr>
        </thead>
        <tbody>
          {errors.map((error) => (
            <tr key={error.request_id}>
              <td>{formatClock(error.at)}</td>
              <td>{error.model ?? "–"}</td>
              <td>{error.instance ?? "–"}</td>
              <td class="bad">{error.status}</td>
              <td>{error.code ?? "–"}</td>
              <td class="mono">{error.request_id}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
