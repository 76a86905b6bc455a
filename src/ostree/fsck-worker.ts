/** Worker thread of fsckRepo(): re-hashes file objects of the repository it was given. */
import { checkFileObjectSync, type FileCheck } from './fsck.js';
import { Repo } from './repo.js';
import { serveJobs, workerData } from './worker-pool.js';

const repo = await Repo.open((workerData as { repoPath: string }).repoPath);
serveJobs<string, FileCheck>((checksum) => checkFileObjectSync(repo, checksum));
