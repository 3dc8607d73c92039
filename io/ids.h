/* ids.h — external ids to dense indices, identical on every rank.
 *
 * A dictionary is the sorted set of distinct external ids seen by all ranks;
 * an id's dense index is its position in that order, so it depends only on
 * the data, never on the rank count.  Ids made only of digits sort
 * numerically ("2" < "10") and before other ids, which sort bytewise.
 * Every rank holds the whole dictionary (a few tens of bytes per id); a
 * hash table answers lookups.  Also used for categories, brands, treatments
 * and categorical campaign attributes. */
#ifndef MKT_IDS_H
#define MKT_IDS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    int64_t n;
    char **names;    /* n names in dense-index order */
    int64_t *table;  /* open addressing: dense index + 1, 0 = empty */
    int64_t table_size;
    char *storage;
} mkt_dict;

/* Collective. Build from each rank's strings (duplicates welcome). */
void mkt_dict_build(mkt_dict *d, char *const *local, int64_t n_local, MPI_Comm comm);
/* Build from names already sorted and distinct (e.g. read from a store). Local. */
void mkt_dict_from_sorted(mkt_dict *d, char **names, int64_t n);
int64_t mkt_dict_find(const mkt_dict *d, const char *s); /* -1 when absent */
void mkt_dict_free(mkt_dict *d);
int mkt_id_compare(const char *a, const char *b);
/* Collective: write the names as a string dataset (rank 0 holds them all). */
void mkt_dict_write(const mkt_dict *d, hid_t file, const char *path, MPI_Comm comm);

#endif
