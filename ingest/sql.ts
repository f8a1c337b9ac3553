/**
 * Parameters for statements assembled from pieces owned by different modules (a page's landing is one statement:
 * events, checkpoint, watermark and run counters, see full-pass.ts): each piece adds its values and gets back
 * their placeholders.
 */
export class SqlParams {
  readonly values: unknown[] = [];

  /** `$n` for a new parameter holding `v` (with a cast when given: `$n::type`). */
  add(v: unknown, cast?: string): string {
    this.values.push(v);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}
