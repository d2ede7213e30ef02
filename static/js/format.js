// Numbers as the page writes them, one way each.

// 12,345
export const thousands = (n) => n.toLocaleString("en-US");

// A fixed number of decimals; "–" for a missing value.
export const fixed = (v, digits) => (v == null ? "–" : v.toFixed(digits));

// `digits` significant digits, in exponent form when tiny (< 1e-3) or large (>= big).
function significant(x, digits, big) {
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= big) ? x.toExponential(digits - 1) : x.toPrecision(digits);
}

// Three significant digits; "–" for a missing value (the Parameters panel's numbers).
export const sig3 = (x) => (x == null || Number.isNaN(x) ? "–" : significant(x, 3, 1e4));

// Significant digits set as maths: a true minus sign, and 0 as "0" (the graph of one step).
// Six digits (its exact values) keep the plain form up to 1e5.
export function typeset(x, digits = 3) {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  return significant(x, digits, digits > 3 ? 1e5 : 1e4).replace(/-/g, "−");
}
