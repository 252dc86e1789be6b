#include "threadpool.h"

#include <chrono>
#include <memory>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CS_PAUSE() _mm_pause()
#else
#define CS_PAUSE() ((void)0)
#endif

namespace cs {

ThreadPool::ThreadPool(int threads) : nthreads_(threads < 1 ? 1 : threads) {
  for (int t = 1; t < nthreads_; ++t) threads_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& th : threads_) th.join();
}

void ThreadPool::run_jobs(int tid) {
  for (;;) {
    long j = next_.fetch_add(1, std::memory_order_relaxed);
    if (j >= njobs_) break;
    (*fn_)(j, tid);
  }
}

void ThreadPool::worker(int tid) {
  unsigned long seen = 0;
  for (;;) {
    // Spin a little (new work usually follows within microseconds during a training step).
    unsigned long g = generation_.load(std::memory_order_acquire);
    auto start = std::chrono::steady_clock::now();
    int spins = 0;
    while (g == seen) {
      CS_PAUSE();
      if (++spins >= 256) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(100)) {
          std::unique_lock<std::mutex> lk(mu_);
          cv_.wait(lk, [&] { return generation_.load() != seen; });
        }
      }
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_) return;
    if (tid < active_) run_jobs(tid);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(long njobs, const std::function<void(long, int)>& fn, int maxThreads) {
  if (njobs <= 0) return;
  int active = nthreads_ < maxThreads ? nthreads_ : maxThreads;
  if (active > njobs) active = (int)njobs;
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (active <= 1 || nthreads_ == 1 || !lock.owns_lock()) {
    for (long j = 0; j < njobs; ++j) fn(j, 0);
    return;
  }
  fn_ = &fn;
  njobs_ = njobs;
  active_ = active;
  next_.store(0, std::memory_order_relaxed);
  pending_.store(nthreads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  run_jobs(0);
  // Wait for the workers: spin briefly, then yield the core (on a busy machine a worker may be
  // descheduled, and spinning would only take the core it needs).
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096)
      CS_PAUSE();
    else
      std::this_thread::yield();
  }
  fn_ = nullptr;
}

static std::unique_ptr<ThreadPool> g_pool;
static int g_threads = 0;

static int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : (int)n;
}

ThreadPool& pool() {
  if (!g_pool) {
    g_threads = g_threads > 0 ? g_threads : default_threads();
    g_pool.reset(new ThreadPool(g_threads));
  }
  return *g_pool;
}

void set_threads(int n) {
  if (n < 1) n = default_threads();
  if (g_pool && g_pool->size() == n) return;
  g_pool.reset();
  g_threads = n;
  g_pool.reset(new ThreadPool(n));
}

int get_threads() { return pool().size(); }

}  // namespace cs
