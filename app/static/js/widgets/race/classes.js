// The names of the two classes of the data set on screen, as every sentence of the race says them
// (label 0 is class A, label 1 class B; what each class *is* comes from the server's `race` message).

export const LETTERS = ["A", "B"];

/** classes: the race message's `classes` (one name per label), or null when the server sent none. */
export function className(classes, label) {
  const name = classes?.[label];
  return name ? `class ${LETTERS[label]} (${name})` : `class ${LETTERS[label]}`;
}

/** "label A" and, when known, what that label stands for: "label A (inner disk)". */
export function labelName(classes, label) {
  const name = classes?.[label];
  return name ? `label ${LETTERS[label]} (${name})` : `label ${LETTERS[label]}`;
}

/** {dataset: [name A, name B]} rendered into the figure by the server, so a race can be named the
 *  moment it is asked for, before its `race` message arrives. */
export function classNamesByDataset(root) {
  try {
    return JSON.parse(root.dataset.classNames || "{}");
  } catch {
    return {};
  }
}
