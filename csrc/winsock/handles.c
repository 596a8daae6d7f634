/* Handle values for lookups and async calls. Why not pointers: a client or provider can pass a
 * stale, repeated or made-up handle, and the stand-in must detect that without dereferencing
 * it. A value is tag (8 bits) | generation (32 bits) | slot index + 1 (24 bits); a slot's
 * generation moves on every removal, so an old value never matches the new occupant, and the
 * slot remembers why its last occupant left (for "completed twice" vs "after its timeout").
 * Lock held for every function here. */
#include "standin_internal.h"

#include <stdlib.h>

#define INDEX_BITS 24
#define INDEX_LIMIT ((1u << INDEX_BITS) - 1u)

static HANDLE encode(uint8_t tag, uint32_t generation, uint32_t index)
{
    uint64_t v = ((uint64_t)tag << 56) | ((uint64_t)generation << INDEX_BITS) | (index + 1u);
    return (HANDLE)(uintptr_t)v;
}

static bool decode(const struct handle_table *t, HANDLE h, uint32_t *generation, uint32_t *index)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    uint32_t slot = (uint32_t)(v & INDEX_LIMIT);
    if ((uint8_t)(v >> 56) != t->tag || slot == 0 || slot > t->capacity)
        return false;
    *index = slot - 1u;
    *generation = (uint32_t)(v >> INDEX_BITS);
    return true;
}

HANDLE handle_insert(struct handle_table *t, void *object)
{
    if (t->first_free == 0) {
        if (t->capacity >= INDEX_LIMIT)
            return NULL;
        uint32_t grown = t->capacity ? t->capacity * 2u : 16u;
        if (grown > INDEX_LIMIT)
            grown = INDEX_LIMIT;
        struct handle_slot *s = realloc(t->slots, grown * sizeof *s);
        if (s == NULL)
            return NULL;
        for (uint32_t i = t->capacity; i < grown; i++) {
            s[i].object = NULL;
            s[i].generation = t->generation_base ? t->generation_base : 1u;
            s[i].last_fate = FATE_NONE;
            s[i].next_free = (i + 1u < grown) ? i + 2u : 0u;
        }
        t->slots = s;
        t->first_free = t->capacity + 1u;
        t->capacity = grown;
    }
    uint32_t index = t->first_free - 1u;
    struct handle_slot *slot = &t->slots[index];
    t->first_free = slot->next_free;
    slot->next_free = 0;
    slot->object = object;
    t->used++;
    return encode(t->tag, slot->generation, index);
}

void *handle_get(const struct handle_table *t, HANDLE h)
{
    uint32_t generation, index;
    if (!decode(t, h, &generation, &index))
        return NULL;
    const struct handle_slot *slot = &t->slots[index];
    return (slot->object && slot->generation == generation) ? slot->object : NULL;
}

enum handle_state handle_classify(const struct handle_table *t, HANDLE h, uint8_t *last_fate)
{
    uint32_t generation, index;
    *last_fate = FATE_NONE;
    if (!decode(t, h, &generation, &index))
        return HANDLE_UNKNOWN;
    const struct handle_slot *slot = &t->slots[index];
    if (slot->object && slot->generation == generation)
        return HANDLE_LIVE;
    if (generation != 0 && generation < slot->generation) {
        if (generation + 1u == slot->generation)
            *last_fate = slot->last_fate;
        return HANDLE_STALE;
    }
    return HANDLE_UNKNOWN;
}

void handle_remove(struct handle_table *t, HANDLE h, uint8_t fate)
{
    uint32_t generation, index;
    if (!decode(t, h, &generation, &index))
        return;
    struct handle_slot *slot = &t->slots[index];
    if (!slot->object || slot->generation != generation)
        return;
    slot->object = NULL;
    slot->last_fate = fate;
    if (++slot->generation == 0)
        slot->generation = 1;
    slot->next_free = t->first_free;
    t->first_free = index + 1u;
    t->used--;
}

void *handle_next_live(const struct handle_table *t, uint32_t *cursor, HANDLE *h)
{
    while (*cursor < t->capacity) {
        uint32_t index = (*cursor)++;
        const struct handle_slot *slot = &t->slots[index];
        if (slot->object) {
            *h = encode(t->tag, slot->generation, index);
            return slot->object;
        }
    }
    return NULL;
}

/* An empty table gives its memory back (the final cleanup); values handed out before stay
 * unknown afterwards, which is all a stale handle needs. */
void handle_table_release_if_empty(struct handle_table *t)
{
    if (t->used != 0)
        return;
    for (uint32_t i = 0; i < t->capacity; i++)
        if (t->slots[i].generation >= t->generation_base)
            t->generation_base = t->slots[i].generation + 1u;
    if (t->generation_base == 0)
        t->generation_base = 1;
    free(t->slots);
    t->slots = NULL;
    t->capacity = 0;
    t->first_free = 0;
}
