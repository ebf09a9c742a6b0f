// The local engine passes the same conformance suite as every hosted provider.
import { testData } from '../../testing/paths.js';
import { providerConformance } from '../provider.case.js';
import { createLocal } from './local-provider.js';

providerConformance({
  name: 'local:tiny-sd15',
  edits: true,
  size: { width: 64, height: 64 },
  async setup() {
    const local = createLocal();
    return { model: local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') }), close: () => local.close() };
  },
});
