/** Worker thread of checkout(): copies files out of the repository it was given. */
import { checkoutSmallFile, type CheckoutJob, type CheckoutPolicy } from './checkout.js';
import { Repo } from './repo.js';
import { serveJobs, workerData } from './worker-pool.js';

const { repoPath, policy } = workerData as { repoPath: string; policy: CheckoutPolicy };
const repo = await Repo.open(repoPath);
serveJobs<CheckoutJob, 'linked' | 'copied' | undefined>((job) => checkoutSmallFile(repo, job, policy));
