//! The shared budget against a real Redis (`redis-server` on a free port).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_redis_limits::{BudgetError, Decision, Quota, RedisBudget};
use tessera_repository_contract::redis::RedisServer;

fn per(count: u32, period: Duration) -> Quota {
    Quota { count, period }
}

#[tokio::test]
#[ignore = "needs redis-server (CI installs it)"]
async fn a_burst_of_count_then_one_per_interval() {
    let redis = RedisServer::start();
    let budget = RedisBudget::new(&redis.url, "test").unwrap();
    let quota = per(5, Duration::from_millis(1000));
    let mut remaining = Vec::new();
    for _ in 0..5 {
        match budget.check("validate", "10.0.0.1", quota).await.unwrap() {
            Decision::Allowed { remaining: left } => remaining.push(left),
            limited => panic!("within the burst: {limited:?}"),
        }
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let Decision::Limited { retry_after } = budget.check("validate", "10.0.0.1", quota).await.unwrap() else {
        panic!("the sixth request is over the burst");
    };
    assert!(retry_after > Duration::from_millis(100) && retry_after <= Duration::from_millis(200), "{retry_after:?}");
    // Another client and another route have budgets of their own.
    assert!(matches!(budget.check("validate", "10.0.0.2", quota).await.unwrap(), Decision::Allowed { remaining: 4 }));
    assert!(matches!(budget.check("activate", "10.0.0.1", quota).await.unwrap(), Decision::Allowed { remaining: 4 }));
    // One interval (200 ms) later, exactly one more.
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    assert!(matches!(budget.check("validate", "10.0.0.1", quota).await.unwrap(), Decision::Allowed { remaining: 0 }));
    assert!(matches!(budget.check("validate", "10.0.0.1", quota).await.unwrap(), Decision::Limited { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (CI installs it)"]
async fn two_instances_drawing_concurrently_share_one_budget_exactly() {
    let redis = RedisServer::start();
    let instances = [
        Arc::new(RedisBudget::new(&redis.url, "shared").unwrap()),
        Arc::new(RedisBudget::new(&redis.url, "shared").unwrap()),
    ];
    // 1 per minute after the burst: nothing refills during the test.
    let quota = per(50, Duration::from_secs(3000));
    let mut tasks = Vec::new();
    for task in 0..400 {
        let budget = instances[task % 2].clone();
        tasks.push(tokio::spawn(async move { budget.check("activate", "203.0.113.9", quota).await.unwrap() }));
    }
    let mut allowed = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Decision::Allowed { .. }) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 50, "400 requests over two instances, one budget of 50");
}

#[tokio::test]
#[ignore = "needs redis-server (CI installs it)"]
async fn an_outage_is_reported_at_once_and_recovered_from() {
    let mut redis = RedisServer::start();
    let budget = RedisBudget::new(&redis.url, "outage").unwrap();
    let quota = per(3, Duration::from_secs(60));
    assert!(matches!(budget.check("usage", "a", quota).await.unwrap(), Decision::Allowed { remaining: 2 }));

    redis.stop();
    let started = Instant::now();
    assert!(matches!(budget.check("usage", "a", quota).await, Err(BudgetError::Unreachable(_))));
    // While the failure is waited out, checks do not touch the network.
    for _ in 0..100 {
        assert!(matches!(budget.check("usage", "a", quota).await, Err(BudgetError::Unreachable(_))));
    }
    assert!(started.elapsed() < Duration::from_millis(600), "{:?}", started.elapsed());

    // Back (empty: it keeps nothing on disk): after the pause, checks answer again.
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match budget.check("usage", "a", quota).await {
            Ok(decision) => {
                assert_eq!(decision, Decision::Allowed { remaining: 2 });
                break;
            }
            Err(error) => assert!(Instant::now() < deadline, "Redis is back but checks still fail: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_redis_that_was_never_there_is_unreachable_not_a_hang() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let budget = RedisBudget::new(&format!("redis://127.0.0.1:{port}"), "none").unwrap();
    let started = Instant::now();
    let error = budget.check("validate", "x", per(1, Duration::from_secs(1))).await.unwrap_err();
    assert!(matches!(error, BudgetError::Unreachable(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_url_that_is_not_redis_is_refused() {
    assert!(matches!(RedisBudget::new("http://example.com", "x"), Err(BudgetError::InvalidUrl { .. })));
}
