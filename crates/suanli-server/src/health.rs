//! The standard gRPC health service (`grpc.health.v1.Health`), as load balancers and
//! `grpc_health_probe` expect it:
//!
//! - every suanli service and the whole server (`""`) are SERVING while the server runs,
//!   and NOT_SERVING from the moment a shutdown is asked for;
//! - `Watch` sends the status now and each change; at shutdown it sends NOT_SERVING and
//!   ends, so an open `Watch` never holds the graceful stop for the whole grace period;
//! - `Check` of an unknown service is NOT_FOUND, while `Watch` of one sends
//!   SERVICE_UNKNOWN and stays open (the protocol's rule: the service may appear later),
//!   until shutdown.
//!
//! tonic-health's reporter answers `Watch` of an unknown service with NOT_FOUND and keeps
//! every `Watch` open until the connection closes, hence this small service over the same
//! generated types.

use std::pin::Pin;

use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Whether the server is running or stopping: one state for all its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Serving,
    Stopping,
}

/// Tells the health service that the server is stopping.
#[derive(Debug)]
pub struct HealthSwitch(watch::Sender<State>);

impl HealthSwitch {
    /// Every service becomes NOT_SERVING and every open `Watch` says so and ends.
    pub fn stopping(&self) {
        let _ = self.0.send(State::Stopping);
    }
}

#[derive(Debug, Clone)]
pub struct HealthService {
    services: &'static [&'static str],
    state: watch::Receiver<State>,
}

/// The health service for `services` (plus `""`, the whole server), and its switch.
pub fn health(services: &'static [&'static str]) -> (HealthSwitch, HealthService) {
    let (tx, rx) = watch::channel(State::Serving);
    (HealthSwitch(tx), HealthService { services, state: rx })
}

impl HealthService {
    pub fn server(self) -> HealthServer<HealthService> {
        HealthServer::new(self)
    }
}

impl HealthService {
    fn known(&self, name: &str) -> bool {
        name.is_empty() || self.services.contains(&name)
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse { status: status as i32 }
}

fn status_of(state: State) -> ServingStatus {
    match state {
        State::Serving => ServingStatus::Serving,
        State::Stopping => ServingStatus::NotServing,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, req: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let name = req.into_inner().service;
        if !self.known(&name) {
            return Err(Status::not_found(format!("no service {name:?} here")));
        }
        Ok(Response::new(response(status_of(*self.state.borrow()))))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<HealthCheckRequest>) -> Result<Response<WatchStream>, Status> {
        let known = self.known(&req.into_inner().service);
        let mut rx = self.state.clone();
        // (receiver, what to send first, done)
        let first = if known { status_of(*rx.borrow_and_update()) } else { ServingStatus::ServiceUnknown };
        let stream = futures::stream::unfold((rx, Some(first), false), move |(mut rx, first, done)| async move {
            if done {
                return None;
            }
            if let Some(status) = first {
                let done = *rx.borrow() == State::Stopping;
                return Some((Ok(response(status)), (rx, None, done)));
            }
            loop {
                if rx.changed().await.is_err() {
                    return None;
                }
                let state = *rx.borrow_and_update();
                if known {
                    return Some((Ok(response(status_of(state))), (rx, None, state == State::Stopping)));
                }
                if state == State::Stopping {
                    return None;
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn req(name: &str) -> Request<HealthCheckRequest> {
        Request::new(HealthCheckRequest { service: name.into() })
    }

    #[tokio::test]
    async fn watch_sees_serving_then_not_serving_and_ends() {
        let (switch, service) = health(&["a.B"]);
        let mut known = service.watch(req("a.B")).await.unwrap().into_inner();
        let mut whole = service.watch(req("")).await.unwrap().into_inner();
        let mut unknown = service.watch(req("x.Y")).await.unwrap().into_inner();
        let next = |s: Option<Result<HealthCheckResponse, Status>>| s.unwrap().unwrap().status;
        assert_eq!(next(known.next().await), ServingStatus::Serving as i32);
        assert_eq!(next(whole.next().await), ServingStatus::Serving as i32);
        assert_eq!(next(unknown.next().await), ServingStatus::ServiceUnknown as i32);
        assert_eq!(service.check(req("a.B")).await.unwrap().into_inner().status, ServingStatus::Serving as i32);
        assert_eq!(service.check(req("x.Y")).await.unwrap_err().code(), tonic::Code::NotFound);
        switch.stopping();
        assert_eq!(next(known.next().await), ServingStatus::NotServing as i32);
        assert!(known.next().await.is_none(), "the watch ends at shutdown");
        assert_eq!(next(whole.next().await), ServingStatus::NotServing as i32);
        assert!(whole.next().await.is_none());
        assert!(unknown.next().await.is_none());
        assert_eq!(service.check(req("")).await.unwrap().into_inner().status, ServingStatus::NotServing as i32);
        // A watch opened while stopping says so and ends at once.
        let mut late = service.watch(req("a.B")).await.unwrap().into_inner();
        assert_eq!(next(late.next().await), ServingStatus::NotServing as i32);
        assert!(late.next().await.is_none());
    }
}
