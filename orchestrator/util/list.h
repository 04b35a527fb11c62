/* Intrusive circular doubly linked list: embed a struct list_node, link without allocating. */
#ifndef KERNELBOX_UTIL_LIST_H
#define KERNELBOX_UTIL_LIST_H

#include <stddef.h>

struct list_node {
    struct list_node *prev;
    struct list_node *next;
};

#define LIST_CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Make head an empty list. A node that is not linked should also be initialised so that
 * list_node_linked() and list_remove() are safe on it. */
static inline void list_init(struct list_node *head)
{
    head->prev = head;
    head->next = head;
}

static inline int list_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline int list_node_linked(const struct list_node *node)
{
    return node->next != NULL && node->next != node;
}

static inline void list_insert_before(struct list_node *at, struct list_node *node)
{
    node->prev = at->prev;
    node->next = at;
    at->prev->next = node;
    at->prev = node;
}

/* Append node at the tail of the list headed by head. */
static inline void list_push_back(struct list_node *head, struct list_node *node)
{
    list_insert_before(head, node);
}

/* Unlink node (a no-op for a node that is not linked) and leave it initialised. */
static inline void list_remove(struct list_node *node)
{
    if (node->next == NULL || node->next == node)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node;
    node->next = node;
}

static inline struct list_node *list_first(const struct list_node *head)
{
    /* A node reached from the head is linked, so list_remove() unlinked it before its owner
     * was freed; the analyzer cannot tell. NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
    return list_empty(head) ? NULL : head->next;
}

#define LIST_FOREACH_SAFE(pos, tmp, head)                                                      \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                          \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
