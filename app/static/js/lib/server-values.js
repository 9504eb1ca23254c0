// What the server puts on a widget's figure as data-* attributes, rendered from its own constants
// (the engine's settings, bounds and targets; app/web/pages.py): read with no fallback, so a page
// that lost one fails loudly, where a copy of the value here would quietly drift from the server's.

/**
 * The data attribute `name` of `root` (camelCase, as element.dataset names it).
 * @param {HTMLElement} root
 * @param {string} name
 * @returns {string}
 */
export function serverText(root, name) {
  const text = root.dataset[name];
  if (text === undefined || text === "") {
    throw new Error(`the server gave no data-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} on this figure`);
  }
  return text;
}

/**
 * A number the server gave as a data attribute; throws when it is missing or not a finite number.
 * @param {HTMLElement} root
 * @param {string} name
 * @returns {number}
 */
export function serverNumber(root, name) {
  const text = serverText(root, name);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`data-${name} is ${JSON.stringify(text)}, not a number`);
  return value;
}

/**
 * A JSON value the server gave as a data attribute; throws when it is missing or not JSON.
 * @param {HTMLElement} root
 * @param {string} name
 */
export function serverJSON(root, name) {
  return JSON.parse(serverText(root, name));
}
