//! FIFOs of objects linked through the objects themselves.
//!
//! An endpoint's queues of blocked processes take no memory of their own:
//! each process record has one `next` link, and a queue is just its first
//! and last id. So an object is on at most one queue at a time (the kernel
//! keeps it so: a process blocks on one thing), and queueing never fails
//! for want of memory. The elements live in an [`ObjectTable`], named by
//! id; the queue is generic over what it links through [`Linked`].
//!
//! Costs: push and pop O(1); `remove` from the middle O(queue length).

use core::fmt;
use core::marker::PhantomData;

use caps::ObjectId;

use crate::objtable::ObjectTable;

/// An object with one link to the next object of whatever queue it is on.
pub trait Linked {
    /// The next object of its queue (`None` when last or not queued).
    fn next(&self) -> Option<ObjectId>;
    /// Sets the link.
    fn set_next(&mut self, next: Option<ObjectId>);
}

/// A FIFO of objects of `T` (by id), linked through [`Linked`].
pub struct Queue<T> {
    head: Option<ObjectId>,
    tail: Option<ObjectId>,
    /// The queue names objects of `T` but owns none.
    _of: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Queue<T> {}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { head: None, tail: None, _of: PhantomData }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("head", &self.head).field("tail", &self.tail).finish()
    }
}

impl<T: Linked> Queue<T> {
    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `id`. An id that names nothing in `table` is not queued.
    pub fn push_back(&mut self, table: &mut ObjectTable<T>, id: ObjectId) {
        let Some(new) = table.get_mut(id) else { return };
        new.set_next(None);
        match self.tail {
            Some(t) => {
                if let Some(last) = table.get_mut(t) {
                    last.set_next(Some(id));
                }
            }
            None => self.head = Some(id),
        }
        self.tail = Some(id);
    }

    /// Puts `id` back at the front (a delivery that did not happen). An id
    /// that names nothing in `table` is not queued.
    pub fn push_front(&mut self, table: &mut ObjectTable<T>, id: ObjectId) {
        let Some(new) = table.get_mut(id) else { return };
        new.set_next(self.head);
        if self.head.is_none() {
            self.tail = Some(id);
        }
        self.head = Some(id);
    }

    /// Takes the first object out (its link cleared).
    pub fn pop(&mut self, table: &mut ObjectTable<T>) -> Option<ObjectId> {
        let id = self.head?;
        let next = table.get_mut(id).and_then(|e| {
            let next = e.next();
            e.set_next(None);
            next
        });
        self.head = next;
        if next.is_none() {
            self.tail = None;
        }
        Some(id)
    }

    /// The objects in it, first to last.
    pub fn iter<'a>(&self, table: &'a ObjectTable<T>) -> impl Iterator<Item = ObjectId> + 'a {
        core::iter::successors(self.head, move |&id| table.get(id).and_then(T::next))
    }

    /// Takes `id` out wherever it is (its link cleared); nothing happens if
    /// it is not in this queue. O(queue length).
    pub fn remove(&mut self, table: &mut ObjectTable<T>, id: ObjectId) {
        let mut prev: Option<ObjectId> = None;
        let mut cur = self.head;
        while let Some(c) = cur {
            let next = table.get(c).and_then(T::next);
            if c == id {
                match prev.and_then(|p| table.get_mut(p)) {
                    Some(p) => p.set_next(next),
                    None => self.head = next,
                }
                if self.tail == Some(id) {
                    self.tail = prev;
                }
                if let Some(e) = table.get_mut(id) {
                    e.set_next(None);
                }
                return;
            }
            prev = cur;
            cur = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    use proptest::prelude::*;

    #[derive(Debug, Default)]
    struct Node {
        next: Option<ObjectId>,
    }

    impl Linked for Node {
        fn next(&self) -> Option<ObjectId> {
            self.next
        }
        fn set_next(&mut self, next: Option<ObjectId>) {
            self.next = next;
        }
    }

    fn table(n: usize) -> (ObjectTable<Node>, Vec<ObjectId>) {
        let mut t = ObjectTable::new(n);
        let ids = (0..n).map(|_| t.insert(Node::default()).unwrap()).collect();
        (t, ids)
    }

    fn list(q: &Queue<Node>, t: &ObjectTable<Node>) -> Vec<ObjectId> {
        q.iter(t).collect()
    }

    #[test]
    fn fifo_order() {
        let (mut t, ids) = table(3);
        let mut q = Queue::default();
        for &id in &ids {
            q.push_back(&mut t, id);
        }
        assert_eq!(list(&q, &t), ids);
        assert_eq!(q.pop(&mut t), Some(ids[0]));
        assert_eq!(q.pop(&mut t), Some(ids[1]));
        assert_eq!(q.pop(&mut t), Some(ids[2]));
        assert_eq!(q.pop(&mut t), None);
        assert!(q.is_empty());
    }

    #[test]
    fn removing_from_the_middle_keeps_both_sides() {
        let (mut t, ids) = table(3);
        let mut q = Queue::default();
        for &id in &ids {
            q.push_back(&mut t, id);
        }
        q.remove(&mut t, ids[1]);
        assert_eq!(list(&q, &t), [ids[0], ids[2]]);
        assert_eq!(t.get(ids[1]).unwrap().next, None, "the removed one is unlinked");
        // The tail is still right: a push goes after the last one.
        q.push_back(&mut t, ids[1]);
        assert_eq!(list(&q, &t), [ids[0], ids[2], ids[1]]);
    }

    #[test]
    fn removing_the_last_one_moves_the_tail_back() {
        let (mut t, ids) = table(3);
        let mut q = Queue::default();
        q.push_back(&mut t, ids[0]);
        q.push_back(&mut t, ids[1]);
        q.remove(&mut t, ids[1]);
        q.push_back(&mut t, ids[2]);
        assert_eq!(list(&q, &t), [ids[0], ids[2]]);
    }

    #[test]
    fn push_front_on_an_empty_queue_sets_the_tail() {
        let (mut t, ids) = table(2);
        let mut q = Queue::default();
        q.push_front(&mut t, ids[0]);
        q.push_back(&mut t, ids[1]);
        assert_eq!(list(&q, &t), [ids[0], ids[1]]);
    }

    #[test]
    fn removing_one_not_queued_changes_nothing() {
        let (mut t, ids) = table(3);
        let mut q = Queue::default();
        q.push_back(&mut t, ids[0]);
        q.push_back(&mut t, ids[1]);
        q.remove(&mut t, ids[2]);
        assert_eq!(list(&q, &t), [ids[0], ids[1]]);
    }

    #[test]
    fn a_dead_id_is_not_queued() {
        let (mut t, ids) = table(2);
        t.remove(ids[1]);
        let mut q = Queue::default();
        q.push_back(&mut t, ids[0]);
        q.push_back(&mut t, ids[1]);
        q.push_front(&mut t, ids[1]);
        assert_eq!(list(&q, &t), [ids[0]]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        PushBack(usize, usize),
        PushFront(usize, usize),
        Pop(usize),
        Remove(usize, usize),
    }

    const QUEUES: usize = 3;
    const NODES: usize = 8;

    fn op() -> impl Strategy<Value = Op> {
        let q = 0..QUEUES;
        let n = 0..NODES;
        prop_oneof![
            3 => (q.clone(), n.clone()).prop_map(|(q, n)| Op::PushBack(q, n)),
            1 => (q.clone(), n.clone()).prop_map(|(q, n)| Op::PushFront(q, n)),
            2 => q.clone().prop_map(Op::Pop),
            2 => (q, n).prop_map(|(q, n)| Op::Remove(q, n)),
        ]
    }

    proptest! {
        /// Several queues over one table against `VecDeque`s: the same
        /// order after every step, and an object off every queue has no
        /// link left. (An object is pushed only when on no queue, as in
        /// the kernel.)
        #[test]
        fn agrees_with_vecdeques(ops in prop::collection::vec(op(), 0..200)) {
            let (mut t, ids) = table(NODES);
            let mut qs = [Queue::<Node>::default(); QUEUES];
            let mut model: [VecDeque<ObjectId>; QUEUES] = Default::default();
            let queued = |m: &[VecDeque<ObjectId>; QUEUES], id| m.iter().any(|q| q.contains(&id));
            for op in ops {
                match op {
                    Op::PushBack(q, n) if !queued(&model, ids[n]) => {
                        qs[q].push_back(&mut t, ids[n]);
                        model[q].push_back(ids[n]);
                    }
                    Op::PushFront(q, n) if !queued(&model, ids[n]) => {
                        qs[q].push_front(&mut t, ids[n]);
                        model[q].push_front(ids[n]);
                    }
                    Op::Pop(q) => {
                        let got = qs[q].pop(&mut t);
                        prop_assert_eq!(got, model[q].pop_front());
                    }
                    Op::Remove(q, n) => {
                        qs[q].remove(&mut t, ids[n]);
                        model[q].retain(|&id| id != ids[n]);
                    }
                    _ => {}
                }
                for q in 0..QUEUES {
                    prop_assert_eq!(list(&qs[q], &t), Vec::from(model[q].clone()));
                    prop_assert_eq!(qs[q].is_empty(), model[q].is_empty());
                }
                for &id in &ids {
                    if !queued(&model, id) {
                        prop_assert_eq!(t.get(id).unwrap().next, None);
                    }
                }
            }
        }
    }
}
