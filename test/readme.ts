/** Reads the shell recipes out of README.md: a fenced sh block right after `<!-- recipe: NAME -->`. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

export function readmeRecipes(file = README): Map<string, string> {
  const text = readFileSync(file, 'utf8');
  const recipes = new Map<string, string>();
  const re = /<!-- recipe: ([\w-]+) -->\s*```sh\n([\s\S]*?)```/g;
  for (const m of text.matchAll(re)) recipes.set(m[1]!, m[2]!);
  return recipes;
}
