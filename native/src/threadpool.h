// Persistent thread pool: N-1 worker threads plus the calling thread.
// parallel_for(n, fn) runs fn(job, tid) for job in [0, n) with dynamic scheduling and returns when
// every job is done. Workers spin briefly after a job batch, then sleep on a condition variable,
// so an idle pool costs no CPU on a shared machine. Calls must not nest (a job must not call
// parallel_for); kernels that need per-thread work use tid to index scratch. When two JS threads
// (worker_threads) call at once, the second runs its jobs on its own thread (tid 0).
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cs {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  int size() const { return nthreads_; }
  // Run fn(job, tid) for all jobs; tid in [0, size()). maxThreads limits how many threads take part.
  void parallel_for(long njobs, const std::function<void(long, int)>& fn, int maxThreads = 1 << 30);

 private:
  void worker(int tid);
  void run_jobs(int tid);
  int nthreads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<unsigned long> generation_{0};
  std::atomic<long> next_{0};
  std::atomic<int> pending_{0};
  long njobs_ = 0;
  int active_ = 0;
  const std::function<void(long, int)>* fn_ = nullptr;
  bool stop_ = false;
  std::mutex busy_;  // one parallel_for at a time
};

// The process-wide pool (created on first use or by set_threads).
ThreadPool& pool();
void set_threads(int n);
int get_threads();

}  // namespace cs
