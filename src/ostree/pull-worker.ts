/** Worker thread of pullFromRemote(): verifies and stores fetched content objects in the repository it was given. */
import { storeFetchedContent, type StoreJob } from './pull-store.js';
import { Repo } from './repo.js';
import { serveJobs, workerData } from './worker-pool.js';

const repo = await Repo.open((workerData as { repoPath: string }).repoPath);
// The bytes arrive as a Uint8Array (structured clone): a Buffer view of them, no copy.
serveJobs<StoreJob, number>((job) => storeFetchedContent(repo, job.checksum, Buffer.from(job.raw.buffer, job.raw.byteOffset, job.raw.byteLength)));
