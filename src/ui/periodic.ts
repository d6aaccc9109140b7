/** Runs `fn` now and every `ms` without keeping the process alive; returns the stop function. */
export function every(ms: number, fn: () => void): () => void {
  fn();
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
}
