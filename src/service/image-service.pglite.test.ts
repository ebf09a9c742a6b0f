// The service suite on embedded PGlite, the default of `pixelpipe serve`.
import { imageServiceConformance } from './image-service.case.js';

imageServiceConformance({ name: 'pglite', settings: async () => ({}) });
