/** Worker thread of commitTree(): stores small files into the repository it was given. */
import { storeSmallFile, type StoreJob, type StoreResult } from './commit.js';
import { Repo } from './repo.js';
import { serveJobs, workerData } from './worker-pool.js';

const repo = await Repo.open((workerData as { repoPath: string }).repoPath);
serveJobs<StoreJob, StoreResult>((job) => storeSmallFile(repo, job));
