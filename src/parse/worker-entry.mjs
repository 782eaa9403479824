// Entry of a parser thread: worker threads do not get tsx's loader from the parent's --import (Node 20), so the
// thread registers it itself, then loads the TypeScript worker. Works under `tsx` (npm start) and `node --import tsx`.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
