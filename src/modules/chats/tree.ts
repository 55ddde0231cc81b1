// A chat's messages as a tree of turns, the way branching chat front ends keep them (ChatGPT,
// LibreChat, Open WebUI): a user message's parent is the user message of the turn before (null for
// the first turn), a reply's parent is its user message. Siblings share a parent and a role:
// regenerated replies of one question, or edited versions of one question. Exactly one sibling
// of each group is `selected`; the active path is the chain of selected messages from the root,
// and `active` marks the messages on it. A reply that called tools has one child, the `tool`
// message of their results (sent by the client), whose replies are its children in turn: a tool
// round stays inside its turn, and the next question still hangs under the turn's question. Keeping a reply's siblings under its question (rather
// than the next question under the reply) lets an earlier reply be regenerated without losing the
// turns after it.
import type { TreeNode } from './repository.ts';

export type SiblingInfo = { siblingCount: number; siblingIndex: number; siblingIds: string[] };

const groupOf = (node: Pick<TreeNode, 'parentId' | 'role'>) => `${node.parentId ?? ''}|${node.role}`;

/** For each message: its group's ids (itself included, oldest first), how many, and its 0-based place among them. */
export function siblingInfo(nodes: TreeNode[]): Map<string, SiblingInfo> {
  const groups = new Map<string, string[]>();
  for (const node of nodes) {
    const key = groupOf(node);
    const group = groups.get(key);
    if (group) group.push(node.id);
    else groups.set(key, [node.id]);
  }
  const info = new Map<string, SiblingInfo>();
  for (const ids of groups.values()) {
    for (const [index, id] of ids.entries()) info.set(id, { siblingCount: ids.length, siblingIndex: index, siblingIds: ids });
  }
  return info;
}

/**
 * Makes `targetId` and each of its ancestors the selected one of its group, then recomputes
 * `active` for the whole chat (selected, with an active parent). Nodes must be in id order
 * (a parent is always older than its children). Returns only the nodes whose flags changed.
 */
export function reselect(nodes: TreeNode[], targetId: string): TreeNode[] {
  const byId = new Map(nodes.map((node) => [node.id, { ...node }]));
  const chosen = new Set<string>();
  for (let node = byId.get(targetId); node; node = node.parentId ? byId.get(node.parentId) : undefined) chosen.add(node.id);
  const chosenGroups = new Map([...chosen].map((id) => [groupOf(byId.get(id)!), id]));
  const changed: TreeNode[] = [];
  for (const original of nodes) {
    const node = byId.get(original.id)!;
    const pick = chosenGroups.get(groupOf(node));
    if (pick !== undefined) node.selected = pick === node.id;
    const parent = node.parentId ? byId.get(node.parentId) : undefined;
    node.active = node.selected && (node.parentId === null || parent?.active === true);
    if (node.selected !== original.selected || node.active !== original.active) changed.push(node);
  }
  return changed;
}

/**
 * Unselects every reply of `questionId` (a new reply is about to take their place); what hangs
 * under them (a reply's tool results and the replies to those) leaves the active path with them.
 * Nodes in id order; returns only the nodes whose flags changed.
 */
export function withoutReplies(nodes: TreeNode[], questionId: string): TreeNode[] {
  const active = new Map<string, boolean>();
  const changed: TreeNode[] = [];
  for (const node of nodes) {
    const selected = node.parentId === questionId && node.role === 'assistant' ? false : node.selected;
    const isActive = selected && (node.parentId === null || active.get(node.parentId) === true);
    active.set(node.id, isActive);
    if (selected !== node.selected || isActive !== node.active) changed.push({ ...node, selected, active: isActive });
  }
  return changed;
}

/** Applies `changes` (re-selections, in order) to `nodes`: the flags each node ends with, for the nodes that changed. */
export function merged(...changes: TreeNode[][]): TreeNode[] {
  const byId = new Map<string, TreeNode>();
  for (const change of changes) for (const node of change) byId.set(node.id, node);
  return [...byId.values()];
}

export const applied = (nodes: TreeNode[], changes: TreeNode[]): TreeNode[] => {
  const byId = new Map(changes.map((node) => [node.id, node]));
  return nodes.map((node) => byId.get(node.id) ?? node);
};
