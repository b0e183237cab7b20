// Timings of the history's pages, for the browser test's benchmark mode:
// how long from asking for a page to its messages laid out on screen.
// Kept in globalThis.ferryPerf, the last 2000 of them.

const marks = [];
globalThis.ferryPerf = marks;
let count = 0;

// record keeps one timing: ms in all, of which fetch to have the page's
// answer; n numbers them, from 1.
export function record(what, ms, messages, fetch) {
  marks.push({ what, ms, messages, fetch, n: ++count });
  if (marks.length > 2000) marks.splice(0, marks.length - 2000);
}

// afterLayout resolves once what was just put in the page is laid out and
// about to be painted (or after 200 ms in a tab the browser does not paint,
// which runs no animation frames).
export function afterLayout() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => resolve());
    setTimeout(resolve, 200);
  });
}
