import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findCycles } = require('../../scripts/import-cycles.js');

describe('import cycles (scripts/import-cycles.js)', () => {
	it('there is none across lib/ and nodes/', () => {
		expect(findCycles(['lib', 'nodes'])).toEqual([]);
	});

	describe('in a tree', () => {
		let root: string;
		beforeEach(() => {
			root = mkdtempSync(join(tmpdir(), 'ma-cycles-'));
			mkdirSync(join(root, 'lib', 'contacts'), { recursive: true });
		});
		afterEach(() => rmSync(root, { recursive: true, force: true }));
		const write = (file: string, text: string) => writeFileSync(join(root, 'lib', file), text);

		it('finds a cycle of imports or re-exports, through a folder index, once however it is entered', () => {
			write('store.ts', "import { Contacts } from './contacts';\nexport const a = 1;\n");
			write('contacts/index.ts', "export * from './rules';\n");
			write('contacts/rules.ts', "import { a } from '../store';\nexport const b = a;\n");
			expect(findCycles(['lib'], root)).toEqual([
				['lib/contacts/index.ts', 'lib/contacts/rules.ts', 'lib/store.ts', 'lib/contacts/index.ts'],
			]);
		});

		it('ignores imports the compiler erases (import type, or only type names)', () => {
			write('store.ts', "import { Contacts } from './contacts';\nexport class Store {}\n");
			write(
				'contacts/index.ts',
				"import type { Store } from '../store';\nimport { type Store as S } from '../store';\nexport type { Store as T } from '../store';\nexport class Contacts {}\n",
			);
			expect(findCycles(['lib'], root)).toEqual([]);
		});
	});
});
