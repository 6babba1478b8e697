// Prepared answer bodies in which only the id and the timestamp change, so a hot simulator does not rebuild JSON per request.

export type AnswerTemplate = (idSuffix: string, createdSec: number) => string;

// Markers that survive JSON.stringify unchanged and cannot occur in the simulator's own reply words.
const ID_MARK = "__SIMID__";
const CREATED_MARK = 4_102_444_799;
const MARKS = new RegExp(`(${ID_MARK}|${CREATED_MARK})`);

/** `build` must be pure in its two arguments; `idSuffix` at render time must be JSON-safe (letters, digits). */
export function createAnswerTemplate(build: (idSuffix: string, createdSec: number) => string): AnswerTemplate {
  // split() with a capture group keeps the markers at odd indexes.
  const parts = build(ID_MARK, CREATED_MARK).split(MARKS);
  return (idSuffix, createdSec) => {
    const created = String(createdSec);
    let body = "";
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? "";
      body += i % 2 === 0 ? part : part === ID_MARK ? idSuffix : created;
    }
    return body;
  };
}
