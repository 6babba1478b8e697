// One colour per instance, the same on every chart and card. Tableau 10: readable on both themes, distinct for most colour-blind eyes.
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

export function colourOf(index: number): string {
  return PALETTE[index % PALETTE.length] ?? "#888888";
}
